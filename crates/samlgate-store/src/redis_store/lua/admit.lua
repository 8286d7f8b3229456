-- samlgate admit v1: the whole ACS decision in one atomic call, one slot.
-- KEYS[1] replay record   <prefix>{s:S}:rp:<H(issuer, assertion ID)>
-- KEYS[2] not-before      <prefix>{s:S}:nb
-- KEYS[3] SessionIndex    <prefix>{s:S}:si:<H(SessionIndex)>   (optional)
-- ARGV[1] request token, ARGV[2] ttl in ms, ARGV[3] IssueInstant in ms
-- Returns 0 fresh, 1 replayed, 2 logged out.
local issued = tonumber(ARGV[3])
-- SAML core 3.7.3.1: an assertion issued before a logout that covers it is
-- refused. An unreadable timestamp refuses too (fail closed).
for i = 2, #KEYS do
  local at = redis.call('GET', KEYS[i])
  if at then
    local t = tonumber(at)
    if t == nil or t > issued then
      return 2
    end
  end
end
-- SET NX GET semantics (GET then SET is atomic inside a script, and runs on
-- Redis before 7.0): nil is fresh, our own token is our own retried request
-- whose reply was lost, anything else is a replay.
local old = redis.call('GET', KEYS[1])
if not old then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 0
end
if old == ARGV[1] then
  return 0
end
return 1
