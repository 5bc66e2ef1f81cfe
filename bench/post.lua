-- wrk script: POST a different, validly signed customer body on every request.
--
--   wrk -t2 -c32 -d8s -s bench/post.lua URL -- BODIES_FILE 2
--
-- BODIES_FILE holds one JSON body per line; the last argument is wrk's thread
-- count. Thread k (of n) takes lines k, k+n, k+2n, ...: no two threads send the
-- same customer, and a thread's connections walk its slice in turn, so no cache
-- can answer a repeat. `wraps` counts a thread running out of lines and starting
-- over (the harness sizes the file so that it stays 0); `non_2xx` counts every
-- response outside 200-299. done() prints one JSON line for the harness.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  local step = tonumber(args[2])
  bodies = {}
  local n = 0
  for line in io.lines(path) do
    if n % step == thread_index then
      bodies[#bodies + 1] = line
    end
    n = n + 1
  end
  if #bodies == 0 then
    error("no request bodies for thread " .. thread_index .. " in " .. path)
  end
  position = 0
  wraps = 0
  non_2xx = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  position = position + 1
  if position > #bodies then
    position = 1
    wraps = wraps + 1
  end
  return wrk.format(nil, nil, nil, bodies[position])
end

-- wrk itself only counts status >= 400; a 1xx or 3xx is not a token either.
function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
end

function done(summary, latency, requests)
  local wrapped, non_2xx_total = 0, 0
  for _, thread in ipairs(threads) do
    wrapped = wrapped + (thread:get("wraps") or 0)
    non_2xx_total = non_2xx_total + (thread:get("non_2xx") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"status_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,'
      .. '"mean_us":%.1f,"max_us":%d,"wraps":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.timeout, errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max, wrapped, non_2xx_total))
end
