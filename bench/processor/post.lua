-- wrk script: POST /payments with a fresh correlationId per request (a repeated id would get 422).
-- ids are <start time>-<wrk thread>-4000-8000-<counter>: unique across threads and across runs.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
local stamp = 0

function init(args)
  stamp = os.time() % 0x100000000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = string.format(
    '{"correlationId":"%08x-%04x-4000-8000-%012x","amount":19.90,"requestedAt":"2025-07-15T12:34:56.000Z"}',
    stamp, tid or 0, n)
  return wrk.format("POST", "/payments", nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
