-- Refuse a token until its exp, then forget it (RFC 7009 §2: a revoked token
-- is never accepted again; once expired, it would not be anyway).
-- KEYS: the token's revocation key. ARGV: now ("" = Redis TIME), exp.
local now = clock(ARGV[1])
local exp = tonumber(ARGV[2])
if exp > now then
  redis.call('SET', KEYS[1], instant(exp), 'PX', expire_in(exp - now))
end
return 1
