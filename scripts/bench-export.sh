#!/bin/bash
# scripts/bench-export.sh BINARY DATA_DIR PORT LABEL (BENCHMARKS.md, issue 13, the export): a server
# started on DATA_DIR (seeded beforehand with `serve --demo-scale N --data-dir DATA_DIR`)
# serves `check --json` twice (load before the export, as in scripts/bench-check.sh), then the
# export `connections --json` twice; client time and peak RSS, server VmRSS before and peak.
B=$1; D=$2; PORT=$3; LABEL=$4; OUT=${TMPDIR:-/tmp}/xkit-bench-export-$LABEL; mkdir -p $OUT
$B serve --data-dir $D --addr 127.0.0.1:$PORT > $OUT/serve.out 2> $OUT/serve.err &
SPID=$!
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$PORT/ && break; sleep 0.2; done
echo "$LABEL server RSS at start: $(awk '/VmRSS/{print $2}' /proc/$SPID/status) KB"
KEYS=$($B keys create --data-dir $D --json)
export XKIT_API_URL=http://127.0.0.1:$PORT
export XKIT_PUBLISHABLE_KEY=$(echo "$KEYS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["publishable_key"])')
export XKIT_SECRET_KEY=$(echo "$KEYS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_key"])')
for run in 1 2; do $B check --json --max-connections 2000000 > /dev/null; done
sleep 1
for run in 1 2; do
  echo "  load $(cut -d' ' -f1 /proc/loadavg); server RSS before export: $(awk '/VmRSS/{print $2}' /proc/$SPID/status) KB"
  ( peak=0; while kill -0 $SPID 2>/dev/null; do r=$(awk '/VmRSS/{print $2}' /proc/$SPID/status); [ "$r" -gt "$peak" ] && peak=$r && echo $peak > $OUT/server_peak; sleep 0.05; done ) &
  SAMPLER=$!
  /usr/bin/time -f "%e s %M KB" -o $OUT/time $B connections --json --max-connections 2000000 > $OUT/stdout.export$run
  kill $SAMPLER; wait $SAMPLER 2>/dev/null
  echo "$LABEL export$run: client $(tail -1 $OUT/time), lines $(wc -l < $OUT/stdout.export$run), server peak $(cat $OUT/server_peak) KB"
  sleep 1
  echo "  server RSS 1 s after: $(awk '/VmRSS/{print $2}' /proc/$SPID/status) KB"
done
kill $SPID; wait $SPID 2>/dev/null
