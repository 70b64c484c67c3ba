-- POST /payments mixed with GET /payments-summary over the checker's window [now-15 s, now-2 s].
-- Env: SUMMARY_RATIO  share of requests that are summaries (default 0.1)
--      DELAY_MS       pause after each answer per connection (default 0)
--      JITTER_MS      pause spread uniformly over DELAY_MS +- JITTER_MS/2
-- correlationIds: per-run nonce + thread number + counter, as in post_payments.lua.
local threads = {}
local nonce = nil

function setup(thread)
  if nonce == nil then
    math.randomseed(os.time())
    nonce = math.random(0, 0x7fffffff)
  end
  table.insert(threads, thread)
  thread:set("tid", #threads)
  thread:set("nonce", nonce)
end

local counter = 0
local ratio = tonumber(os.getenv("SUMMARY_RATIO") or "0.1")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(os.time() + (tid or 0) * 7919)
end

local function uuid()
  counter = counter + 1
  local hi = math.floor(counter / 16777216)
  local lo = counter % 16777216
  -- wrk also calls request() once in its main Lua state, where setup() set nothing.
  return string.format("%08x-%04x-4%03x-8%03x-%06x%06x", nonce or 0, tid or 0, math.random(0, 4095),
    math.random(0, 4095), hi, lo)
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%S.000Z", t)
end

function request()
  if math.random() < ratio then
    local now = os.time()
    return wrk.format("GET", "/payments-summary?from=" .. iso(now - 15) .. "&to=" .. iso(now - 2))
  end
  return wrk.format("POST", "/payments", headers,
    string.format('{"correlationId":"%s","amount":20.05}', uuid()))
end

-- Without jitter all connections stay in lockstep and hit the server in one burst per period.
local jitter_ms = tonumber(os.getenv("JITTER_MS") or "0")
if delay_ms > 0 then
  function delay()
    return delay_ms - jitter_ms / 2 + math.random(0, jitter_ms)
  end
end
