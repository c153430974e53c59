-- wrk script: optional POST body/headers from the environment, and a JSON summary with p50/p95/p99.
-- BENCH_TAPS names a file of "path<TAB>body" lines: each request takes the next line (threads interleave),
-- so every attendance tap under load is a distinct, real write.
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local cookie = os.getenv("BENCH_COOKIE")
local csrf = os.getenv("BENCH_CSRF")
local user_agent = os.getenv("BENCH_USER_AGENT")
local taps_file = os.getenv("BENCH_TAPS")
local threads_started = 0
local taps = {}
local index = 0

function setup(thread)
  thread:set("thread_id", threads_started)
  threads_started = threads_started + 1
end

function init(args)
  if taps_file then
    for line in io.lines(taps_file) do
      local path, data = line:match("^(.-)\t(.*)$")
      if path then taps[#taps + 1] = {path, data} end
    end
  end
  index = (thread_id or 0) + tonumber(os.getenv("BENCH_TAP_OFFSET") or "0")
end

request = function()
  local headers = {}
  if cookie then headers["Cookie"] = cookie end
  if csrf then headers["X-CSRFToken"] = csrf end
  if user_agent then headers["User-Agent"] = user_agent end
  if os.getenv("BENCH_HTMX") then headers["HX-Request"] = "true" end
  if method == "POST" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    if #taps > 0 then
      local tap = taps[(index % #taps) + 1]
      index = index + 2
      return wrk.format("POST", tap[1], headers, tap[2])
    end
    return wrk.format("POST", nil, headers, body)
  end
  return wrk.format("GET", nil, headers, nil)
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors))
end
