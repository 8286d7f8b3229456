-- samlgate revoke v1: one revocation key in the subject's slot.
-- KEYS[1] <prefix>{s:S}:nb | :si:<H(SessionIndex)> | :sid:<session ID>
-- ARGV[1] value (ms; the larger of stored and new is kept)
-- ARGV[2] ttl in ms (the longer of remaining and new is kept)
-- Idempotent: sending it twice changes nothing.
local v = ARGV[1]
local cur = redis.call('GET', KEYS[1])
if cur then
  local c = tonumber(cur)
  if c and c > tonumber(v) then
    v = cur
  end
end
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then
  ttl = left
end
redis.call('SET', KEYS[1], v, 'PX', ttl)
return 1
