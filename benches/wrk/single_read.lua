-- wrk script for the single-connection read (GET /contexts/:id/connections/:slug).
-- XKIT_WRK_PATHS names a file of existing request paths, one a line; XKIT_WRK_AUTH holds the
-- whole Authorization header value ("Basic ..."), so the key pair never appears on a command line.
-- Run by benches/platform.rs; by hand:
--   XKIT_WRK_PATHS=paths.txt XKIT_WRK_AUTH="Basic $(printf %s "$PK:$SK" | base64 -w0)" \
--     wrk -t2 -c64 -d10s --latency -s benches/wrk/single_read.lua http://127.0.0.1:8080

local paths = {}
local next_path = 1

function init(args)
  for line in io.lines(os.getenv("XKIT_WRK_PATHS")) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  wrk.headers["Authorization"] = os.getenv("XKIT_WRK_AUTH")
  next_path = math.random(#paths)
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format("wrk summary: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d failed of %d\n",
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000, failed,
    summary.requests))
end
