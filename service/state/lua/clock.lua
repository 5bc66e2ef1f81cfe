-- The script's clock: the caller's time when it passes one (ARGV[1]), else Redis'
-- own (TIME), the one clock every replica shares. See service/state/redis.py.
local function clock(arg)
  local now = tonumber(arg)
  if now then
    return now
  end
  local time = redis.call('TIME')
  return tonumber(time[1]) + tonumber(time[2]) / 1000000
end

-- Keys outlive the instant they stop mattering by a second, so a caller whose
-- clock runs behind Redis' never sees one vanish early; every reader compares the
-- stored instant with `now`, so the margin changes no answer.
local function expire_in(seconds)
  return string.format('%d', math.ceil(seconds * 1000) + 1000)
end

-- Instants are stored with 17 significant digits: a double survives the round trip.
local function instant(t)
  return string.format('%.17g', t)
end
