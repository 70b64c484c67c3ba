-- POST /payments mixed with GET /payments-summary over the checker's window [now-15 s, now-2 s].
-- Env: SUMMARY_RATIO  share of requests that are summaries (default 0.1); DELAY_MS, JITTER_MS as
-- in common.lua.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

local ratio = tonumber(os.getenv("SUMMARY_RATIO") or "0.1")

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%S.000Z", t)
end

function request()
  if math.random() < ratio then
    local now = os.time()
    return wrk.format("GET", "/payments-summary?from=" .. iso(now - 15) .. "&to=" .. iso(now - 2))
  end
  return wrk.format("POST", "/payments", json_headers,
    string.format('{"correlationId":"%s","amount":20.05}', uuid()))
end
