-- wrk script: POST a different, validly signed customer on every request.
--
--   wrk -t2 -c32 -d8s -s bench/post.lua URL -- BODIES_FILE 2
--
-- BODIES_FILE holds one JSON body per line; the last argument is wrk's thread
-- count. Thread k (of n) takes lines k, k+n, k+2n, ..., so no two requests carry
-- the same customer. `wraps` counts a thread running out and starting over (the
-- harness sizes the file so that it stays 0); `non_2xx` counts every response
-- outside 200-299 (wrk itself counts only >= 400). done() prints one JSON line.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local step = tonumber(args[2])
  bodies, position, wraps, non_2xx = {}, 0, 0, 0
  local n = 0
  for line in io.lines(args[1]) do
    if n % step == index then
      bodies[#bodies + 1] = line
    end
    n = n + 1
  end
  if #bodies == 0 then
    error("no request bodies for thread " .. index .. " in " .. args[1])
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  position = position + 1
  if position > #bodies then
    position, wraps = 1, wraps + 1
  end
  return wrk.format(nil, nil, nil, bodies[position])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
end

function done(summary, latency, requests)
  local wrapped, refused = 0, 0
  for _, thread in ipairs(threads) do
    wrapped = wrapped + thread:get("wraps")
    refused = refused + thread:get("non_2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
      .. '"connect":%d,"read":%d,"write":%d,"timeout":%d,"non_2xx":%d,"wraps":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, refused, wrapped))
end
