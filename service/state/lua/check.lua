-- One request's checks, atomically (service.state.Checks):
--   1. GCRA limits in order, each counted as it passes; the first over its rate
--      stops the script (go-redis/redis_rate's design; service/state/gcra.py:step
--      is the same rule in Python);
--   2. a blocked customer is refused;
--   3. a one-time proof is refused if seen before, else recorded (SET NX
--      semantics), only once everything else has passed.
-- KEYS: the n limit keys in order, the blocks hash, then the proof key if any.
-- ARGV: now ("" = Redis TIME), n, then limit and period for each limit key,
--       the customer's field in the blocks hash ("" = none), the proof's lifetime
--       in seconds ("" = no proof).
-- Returns {0} when allowed, {1, retry_after} over a limit, {2} blocked, {3} replayed.
local now = clock(ARGV[1])
local n = tonumber(ARGV[2])

for i = 1, n do
  local limit = tonumber(ARGV[1 + 2 * i])
  local period = tonumber(ARGV[2 + 2 * i])
  local interval = period / limit
  -- A burst of `limit` events is allowed: the TAT may run this far ahead of now.
  local tolerance = period - interval
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then
    tat = now
  end
  if tat - now > tolerance then
    return {1, math.max(1, math.ceil(tat - tolerance - now))}
  end
  local new_tat = tat + interval
  redis.call('SET', KEYS[i], instant(new_tat), 'PX', expire_in(new_tat - now))
end

local customer = ARGV[3 + 2 * n]
if customer ~= '' and redis.call('HEXISTS', KEYS[n + 1], customer) == 1 then
  return {2}
end

local lifetime = tonumber(ARGV[4 + 2 * n])
if lifetime then
  local proof = KEYS[n + 2]
  local seen_until = tonumber(redis.call('GET', proof))
  if seen_until and seen_until > now then
    return {3}
  end
  redis.call('SET', proof, instant(now + lifetime), 'PX', expire_in(lifetime))
end
return {0}
