-- Refuse a token until it can no longer be accepted, then forget it (RFC 7009 §2:
-- a revoked token is never accepted again; once past that instant, it would not be
-- anyway). The caller passes that instant: the token's exp plus the leeway its
-- verifiers allow (service.support.clock.LEEWAY).
-- KEYS: the token's revocation key. ARGV: now ("" = Redis TIME), the instant.
local now = clock(ARGV[1])
local ends = tonumber(ARGV[2])
if ends > now then
  redis.call('SET', KEYS[1], instant(ends), 'PX', expire_in(ends - now))
end
return 1
