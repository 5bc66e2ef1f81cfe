-- Whether a token may still be used: not revoked, its customer not blocked, and
-- not issued before a block that has since been lifted (while such a token could
-- still be unexpired). Then, for an active token, a one-time proof that came with
-- it (a DPoP proof's jti) is refused if seen before, else recorded (as check.lua).
-- KEYS: the token's revocation key, then the blocks hash and the customer's unblock
--       record if there is a customer, then the proof key if there is a proof.
-- ARGV: now ("" = Redis TIME), the token's iat, the customer's field ("" = none),
--       the proof's lifetime in seconds ("" = no proof).
-- Returns 1 (active), 0 (inactive) or 2 (active, but the proof was used before).
local now = clock(ARGV[1])

local function first_use()
  local lifetime = tonumber(ARGV[4])
  if not lifetime then
    return 1
  end
  local proof = KEYS[#KEYS]
  local seen_until = tonumber(redis.call('GET', proof))
  if seen_until and seen_until > now then
    return 2
  end
  redis.call('SET', proof, instant(now + lifetime), 'PX', expire_in(lifetime))
  return 1
end

local revoked_until = tonumber(redis.call('GET', KEYS[1]))
if revoked_until and revoked_until > now then
  return 0
end
local customer = ARGV[3]
if customer == '' then
  return first_use()
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
return first_use()
