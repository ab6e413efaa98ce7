-- wrk script: every request uses the next subscriber token, so no two requests in a row
-- share a URL. Configured through the environment by `python -m bench`.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local template = os.getenv("BENCH_PATH")
local headers = {["Accept-Encoding"] = "gzip"}
local if_none_match = os.getenv("BENCH_IF_NONE_MATCH")
if if_none_match and if_none_match ~= "" then headers["If-None-Match"] = if_none_match end
local range = os.getenv("BENCH_RANGE")
if range and range ~= "" then headers["Range"] = range end

local counter = 0
setup = function(thread)
  thread:set("offset", math.random(#tokens))
end

request = function()
  counter = counter + 1
  local token = tokens[((counter + (offset or 0)) % #tokens) + 1]
  return wrk.format("GET", string.format(template, token), headers)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"socket_errors": %d, "bad_status": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
