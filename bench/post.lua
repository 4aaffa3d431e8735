-- wrk script for bench/run.sh: POSTs one chat-completion body with a bearer token and,
-- when the run is done, prints one machine-readable line that run.sh parses.
--
-- Environment (set by run.sh):
--   BENCH_BODY   the JSON request body
--   BENCH_TOKEN  the bearer token (the gateway's client token; the mock ignores it)

local body = os.getenv("BENCH_BODY")
local token = os.getenv("BENCH_TOKEN")
if body == nil or body == "" then
  error("post.lua: BENCH_BODY is not set")
end
if token == nil or token == "" then
  error("post.lua: BENCH_TOKEN is not set")
end

wrk.method = "POST"
wrk.body = body
wrk.headers["authorization"] = "Bearer " .. token
wrk.headers["content-type"] = "application/json"

-- Latencies are in microseconds; errors.status counts responses with status > 399.
function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local rps = 0
  if secs > 0 then
    rps = summary.requests / secs
  end
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d " ..
    "connect_err=%d read_err=%d write_err=%d status_err=%d timeout_err=%d\n",
    summary.requests, summary.duration, rps,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
