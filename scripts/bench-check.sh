#!/bin/bash
# scripts/bench-check.sh BINARY N PORT LABEL (BENCHMARKS.md, issue 13: check, seeding, export):
# seeds `serve --demo-scale N` (its time), restarts the server on that data, then times
# `check --json` twice, `connections --json` (client RSS; the server's VmRSS sampled every
# 50 ms), and at N <= 100000 `check --json` through scripts/no-stats-proxy.py (the full-scan
# fallback), comparing its report with the stats path's. Uses ports PORT and PORT+1; deletes its
# data directory at the end. Prints one line per figure.
B=$1; N=$2; PORT=$3; LABEL=$4
D=${TMPDIR:-/tmp}/xkit-bench-data-$LABEL-$N; rm -rf $D
OUT=${TMPDIR:-/tmp}/xkit-bench-$LABEL-$N; mkdir -p $OUT
$B serve --demo-scale $N --data-dir $D --addr 127.0.0.1:$PORT > $OUT/serve.out 2> $OUT/serve.err &
SPID=$!
for i in $(seq 1 600); do
  grep -q "added in" $OUT/serve.out $OUT/serve.err 2>/dev/null && curl -s -o /dev/null http://127.0.0.1:$PORT/ && break
  sleep 0.5
done
echo "$LABEL $N seeding: $(grep -ho 'generated platform.*' $OUT/serve.out $OUT/serve.err | head -1)"
# Measure against a server restarted on the seeded data (its memory not that of the seeding).
kill $SPID; wait $SPID 2>/dev/null
$B serve --data-dir $D --addr 127.0.0.1:$PORT > $OUT/serve2.out 2> $OUT/serve2.err &
SPID=$!
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$PORT/ && break; sleep 0.2; done
echo "  restarted server RSS: $(awk '/VmRSS/{print $2}' /proc/$SPID/status) KB"
KEYS=$($B keys create --data-dir $D --json)
export XKIT_API_URL=http://127.0.0.1:$PORT
export XKIT_PUBLISHABLE_KEY=$(echo "$KEYS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["publishable_key"])')
export XKIT_SECRET_KEY=$(echo "$KEYS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_key"])')
sleep 2
measure() { # name, args...
  local name=$1; shift
  /usr/bin/time -f "%e s %M KB" -o $OUT/time.$name "$@" > $OUT/stdout.$name 2> $OUT/stderr.$name
  local rc=$?
  echo "$LABEL $N $name: $(tail -1 $OUT/time.$name) exit=$rc"
}
for run in 1 2; do
  measure check$run $B check --json --max-connections 2000000
done
python3 -c "import json; r=json.load(open('$OUT/stdout.check1')); print('  scanned', r['scanned'], 'contexts', r['contexts'], 'unhealthy_total', r['unhealthy_total'])"
# server RSS during the export
( peak=0; while kill -0 $SPID 2>/dev/null; do r=$(awk '/VmRSS/{print $2}' /proc/$SPID/status); [ "$r" -gt "$peak" ] && peak=$r && echo $peak > $OUT/server_peak; sleep 0.05; done ) &
SAMPLER=$!
echo "  server RSS before export: $(awk '/VmRSS/{print $2}' /proc/$SPID/status) KB"
measure export $B connections --json --max-connections 2000000
echo "  export lines: $(wc -l < $OUT/stdout.export), server peak RSS $(cat $OUT/server_peak) KB"
kill $SAMPLER 2>/dev/null
if [ "$N" -le 100000 ]; then
  python3 "$(dirname "$0")/no-stats-proxy.py" 127.0.0.1 $PORT $((PORT+1)) &
  PPID2=$!
  sleep 1
  for run in 1 2; do
    XKIT_API_URL=http://127.0.0.1:$((PORT+1)) measure fallback$run $B check --json --max-connections 2000000
  done
  python3 -c "import json; a=json.load(open('$OUT/stdout.check1')); b=json.load(open('$OUT/stdout.fallback1')); [x.pop('target') for x in (a,b)]; print('  fallback report == stats report:', a==b)"
  kill $PPID2
fi
kill $SPID; wait $SPID 2>/dev/null
rm -rf $D
