-- ACS flood for wrk (a lighter load generator than k6, so that the gateway
-- and not the generator is the bottleneck): each request POSTs the next
-- unique pre-signed Response from BODIES (one URL-encoded form body per
-- line, examples/gen_responses.rs) to the ACS. Stops sending new bodies at
-- the end of the file (then it posts the last one again: replays, which
-- the summary counts apart).
--
--   BODIES=out/acs-bodies.txt wrk -t1 -c16 -d5s -s acs.lua http://127.0.0.1:18080/saml/acs
local bodies = {}
local next_body = 1
local accepted, refused = 0, 0

function init(args)
  local path = os.getenv("BODIES") or "out/acs-bodies.txt"
  local f = assert(io.open(path, "r"))
  local limit = tonumber(os.getenv("ACS_LIMIT") or "0")
  for line in f:lines() do
    bodies[#bodies + 1] = line
    if limit > 0 and #bodies >= limit then break end
  end
  f:close()
end

function request()
  local body = bodies[next_body] or bodies[#bodies]
  next_body = next_body + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function response(status, headers, body)
  if status == 303 then accepted = accepted + 1 else refused = refused + 1 end
end

function done(summary, latency, requests)
  -- wrk runs done() in the main thread, without the threads' counters:
  -- non-303 answers show as "Non-2xx or 3xx" lines; 303 is a 3xx.
  io.write(string.format("acs_bodies %d\n", #bodies))
end
