-- wrk script: GET with optional headers, counting answers that are not the expected status.
--   wrk -s bench/get_status.lua URL -- STATUS [Header: value]...
-- Prints a JSON summary line (BENCH_JSON ...) at the end for bench/http_bench.py.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expected = tonumber(args[1] or "200")
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
  responses, bad = 0, 0
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= expected then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected status " .. status .. "\n") end
  end
end

function done(summary, latency, requests)
  local ok, notok = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + (t:get("responses") or 0)
    notok = notok + (t:get("bad") or 0)
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,'
      .. '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,'
      .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"checked":%d,"unexpected_status":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, ok, notok))
end
