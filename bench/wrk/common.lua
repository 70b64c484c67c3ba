-- Shared by the wrk scripts here (loaded with dofile from the script's own folder).
-- correlationIds unique across wrk threads and runs: wrk gives each thread its own Lua state, so
-- uniqueness comes from a per-run nonce, the thread number and a per-thread counter, laid out as
-- a valid version 4 UUID: <nonce 8>-<thread 4>-4<rand 3>-8<rand 3>-<counter 12>.
-- Env: DELAY_MS  pause after each answer per connection (1000 = a k6 VU's sleep(1)); default 0
--      JITTER_MS pause spread uniformly over DELAY_MS +- JITTER_MS/2 (desynchronises connections)
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

function init(args)
  math.randomseed(os.time() + (tid or 0) * 7919)
end

local counter = 0
function uuid()
  counter = counter + 1
  local hi = math.floor(counter / 16777216)
  local lo = counter % 16777216
  -- wrk also calls request() once in its main Lua state, where setup() set nothing.
  return string.format("%08x-%04x-4%03x-8%03x-%06x%06x", nonce or 0, tid or 0, math.random(0, 4095),
    math.random(0, 4095), hi, lo)
end

json_headers = { ["Content-Type"] = "application/json" }

-- Without jitter all connections stay in lockstep and hit the server in one burst per period.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local jitter_ms = tonumber(os.getenv("JITTER_MS") or "0")
if delay_ms > 0 then
  function delay()
    return delay_ms - jitter_ms / 2 + math.random(0, jitter_ms)
  end
end
