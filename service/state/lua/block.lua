-- Block a customer until unblocked: the one record without a TTL.
-- KEYS: the blocks hash. ARGV: now ("" = Redis TIME), the customer's field, reason.
-- Returns the block's time (its `since`).
local now = clock(ARGV[1])
redis.call('HSET', KEYS[1], ARGV[2], instant(now) .. ' ' .. ARGV[3])
return instant(now)
