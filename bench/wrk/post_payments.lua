-- POST /payments with a correlationId unique across wrk threads and runs (see common.lua).
-- Env: DELAY_MS, JITTER_MS (common.lua); DIRECT=1 adds "requestedAt" (for posting straight to a
-- processor simulator).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

local direct = os.getenv("DIRECT") == "1"

function request()
  local body
  if direct then
    body = string.format('{"correlationId":"%s","amount":20.05,"requestedAt":"%s"}', uuid(),
      os.date("!%Y-%m-%dT%H:%M:%S.000Z"))
  else
    body = string.format('{"correlationId":"%s","amount":20.05}', uuid())
  end
  return wrk.format("POST", "/payments", json_headers, body)
end
