-- Lift a block. Tokens issued up to the block stay inactive until the longest
-- token lifetime after it, plus the verifiers' leeway, has passed: by then every
-- one of them is refused anyway.
-- KEYS: the blocks hash, the customer's unblock record.
-- ARGV: now ("" = Redis TIME), the customer's field, the longest token TTL plus
--       the leeway (service.support.clock.LEEWAY).
-- Returns 1, or 0 when the customer was not blocked.
local now = clock(ARGV[1])
local block = redis.call('HGET', KEYS[1], ARGV[2])
if not block then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[2])
local since = tonumber(string.match(block, '^(%S+)'))
local expires = since + tonumber(ARGV[3])
if expires > now then
  redis.call('SET', KEYS[2], instant(since) .. ' ' .. instant(expires), 'PX', expire_in(expires - now))
end
return 1
