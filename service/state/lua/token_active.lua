-- Whether a token may still be used: not revoked, its customer not blocked, and
-- not issued before a block that has since been lifted (while such a token could
-- still be unexpired).
-- KEYS: the token's revocation key, the blocks hash, the customer's unblock record.
-- ARGV: now ("" = Redis TIME), the token's iat, the customer's field ("" = none).
-- Returns 1 (active) or 0.
local now = clock(ARGV[1])
local revoked_until = tonumber(redis.call('GET', KEYS[1]))
if revoked_until and revoked_until > now then
  return 0
end
local customer = ARGV[3]
if customer == '' then
  return 1
end
if redis.call('HEXISTS', KEYS[2], customer) == 1 then
  return 0
end
local record = redis.call('GET', KEYS[3])
if record then
  local since, expires = string.match(record, '^(%S+) (%S+)$')
  if tonumber(expires) > now and tonumber(ARGV[2]) <= tonumber(since) then
    return 0
  end
end
return 1
