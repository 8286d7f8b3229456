-- samlgate feed v1: publish one revocation to every node, in the {rv} slot.
-- KEYS[1] <prefix>{rv}:log  stream that nodes read from their last seen ID
-- KEYS[2] <prefix>{rv}:z    sorted set (score = expiry) of every unexpired
--                           revocation: what a node reads to resync
-- ARGV[1] record, ARGV[2] its expiry (ms), ARGV[3] now (ms),
-- ARGV[4] oldest stream ID (ms) to keep, ARGV[5] stream length bound
-- Returns the stream entry ID.
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[1])
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[4])
return id
