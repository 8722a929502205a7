-- wrk script of the throughput benchmark: GET the paths given after "--" in turn (each
-- connection its own order), with the Host header of the portal's URL, count the answers by
-- status, and print the figures as one JSON line (WRK_JSON ...) for benchmarks/throughput.py.
--   wrk -t2 -c32 -d5s -s wrk_report.lua http://127.0.0.1:PORT -- localhost:PORT /path?_st=... ...

local threads = {}
local host = nil
local paths = {}
local counter = 0
statuses = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  host = args[1]
  for i = 2, #args do
    paths[#paths + 1] = args[i]
  end
  counter = math.random(#paths)
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1], { Host = host })
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    parts[#parts + 1] = string.format('"%s": %d', status, count)
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.connect, errors.read, errors.write,
    errors.timeout, table.concat(parts, ", ")))
end
