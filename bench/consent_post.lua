-- wrk script: POST one valid consent event for demo-shop revision 1 per request, each with a
-- fresh UUID4 consent_id.   wrk -s bench/consent_post.lua http://127.0.0.1:PORT/api/v1/sites/demo-shop/consents
-- Prints a JSON summary line (BENCH_JSON ...) at the end for bench/http_bench.py.

local counter = 0
local hexdigits = "0123456789abcdef"

local function hex(n)
  local t = {}
  for i = 1, n do
    local r = math.random(1, 16)
    t[i] = hexdigits:sub(r, r)
  end
  return table.concat(t)
end

local function uuid4()
  local v = math.random(9, 12) -- variant nibble 8, 9, a or b
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. hexdigits:sub(v, v) .. hex(3) .. "-" .. hex(12)
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + id * 7919 + math.floor(os.clock() * 1000000))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
  responses, bad = 0, 0
end

function request()
  local body = '{"consent_id":"' .. uuid4() .. '","revision":1,'
    .. '"decisions":{"necessary":true,"preferences":true,"analytics":true,"marketing":true},'
    .. '"method":"accept_all","language":"sv",'
    .. '"page_url":"https://demo.example.se/produkter?email=a@b.se#top","gpc":false}'
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 201 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected status " .. status .. ": " .. body:sub(1, 200) .. "\n") end
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
