"""The pacing limiter every RQ worker shares (app/outbox/pacing.py says what it does).

Each operation is one Lua script: atomic without retries however many workers book at
once, and on Redis's clock, so workers on different machines agree. Bookings are sorted
sets (member: the delivery attempt, score: its slot in milliseconds) that forget what a
window has passed and expire when nothing in them can matter any more; the booking rule
is `pacing.earliest`, the same as the in-process limiter's. Beside each, for the last
guard (`pacing.leave_after`), the latest answered calls (`…:sent`, scored by answer) and
the calls in flight (`…:flying`, scored by when they stop counting if no answer comes).
"""

from __future__ import annotations

from app.outbox.pacing import GRACE, IN_FLIGHT, IN_FLIGHT_RETRY, LEASE

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function ms(x) return string.format('%d', x) end
"""

# KEYS: one per rate. ARGV: member, kept slot ('' for none), grace, then limit and
# window (ms) for each key. Returns {slot, now}.
BOOK = _NOW + """
local member, kept, grace = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local function limit(i) return tonumber(ARGV[2 + 2 * i]) end
local function window(i) return tonumber(ARGV[3 + 2 * i]) end
if kept and now <= kept + grace then
  local ours = true
  for i = 1, #KEYS do
    if tonumber(redis.call('ZSCORE', KEYS[i], member)) ~= kept then ours = false end
  end
  if ours then return {kept, now} end
end
for i = 1, #KEYS do
  redis.call('ZREM', KEYS[i], member)
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ms(now - window(i)))
end
local slot, moved = now, true
while moved do
  moved = false
  for i = 1, #KEYS do
    local low, high = '(' .. ms(slot - window(i)), '(' .. ms(slot + window(i))
    local count = redis.call('ZCOUNT', KEYS[i], low, high)
    if count >= limit(i) then
      local leaving = redis.call('ZRANGEBYSCORE', KEYS[i], low, high, 'WITHSCORES',
                                 'LIMIT', count - limit(i), 1)
      slot = tonumber(leaving[2]) + window(i)
      moved = true
    end
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], ms(slot), member)
  local latest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[i], ms(tonumber(latest[2]) - now + window(i)))
end
return {slot, now}
"""

# KEYS: for each rate its answered calls, then its calls in flight. ARGV: member, the ms a
# call stays in flight at most, the ms to look again if a window's calls are all in
# flight, then limit and window (ms) for each rate. Returns the ms until `member`'s call
# may leave (pacing.leave_after); when 0, it is in flight from now.
DEPART = _NOW + """
local member, flight, retry = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rates = #KEYS / 2
local wait = 0
for i = 1, rates do
  local sent, flying = KEYS[i], KEYS[rates + i]
  local limit, window = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', flying, '-inf', ms(now))
  local n = redis.call('ZCARD', flying)
  if redis.call('ZSCORE', flying, member) then n = n - 1 end
  if n >= limit then
    wait = math.max(wait, retry)
  else
    local need = limit - n
    if redis.call('ZCARD', sent) >= need then
      local kth = redis.call('ZRANGE', sent, -need, -need, 'WITHSCORES')
      wait = math.max(wait, tonumber(kth[2]) + window - now)
    end
  end
end
if wait <= 0 then
  for i = 1, rates do
    redis.call('ZADD', KEYS[rates + i], ms(now + flight), member)
    redis.call('PEXPIRE', KEYS[rates + i], ms(flight))
  end
end
return math.max(0, wait)
"""

# KEYS: as DEPART's. ARGV: member, then limit and window (ms) for each rate.
SENT = _NOW + """
local rates = #KEYS / 2
for i = 1, rates do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREM', KEYS[rates + i], ARGV[1])
  redis.call('ZADD', KEYS[i], ms(now), ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(limit + 1))
  redis.call('PEXPIRE', KEYS[i], ms(window))
end
"""

# KEYS[1]: the slots. ARGV: member, limit, lease (ms). Returns 1 if held, else 0.
HOLD = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms(now))
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
    and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ms(now + tonumber(ARGV[3])), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisLimiter:
    """`pacing.Limiter` on Redis; keys are prefixed so several apps can share a Redis."""

    def __init__(self, connection, prefix: str = "incident-desk:pace:"):
        self._redis, self.prefix = connection, prefix
        self._book = connection.register_script(BOOK)
        self._depart = connection.register_script(DEPART)
        self._sent = connection.register_script(SENT)
        self._hold = connection.register_script(HOLD)

    def book(self, member, rates, kept):
        args = [member, "" if kept is None else kept, round(GRACE * 1000)]
        for _key, limit, window in rates:
            args += [limit, window]
        slot, now = self._book(keys=[self.prefix + key for key, _, _ in rates], args=args)
        return int(slot), int(now)

    def depart(self, rates, member):
        args = [member, round(IN_FLIGHT * 1000), round(IN_FLIGHT_RETRY * 1000)]
        args += [value for _key, limit, window in rates for value in (limit, window)]
        return int(self._depart(keys=self._calls(rates), args=args))

    def sent(self, rates, member):
        args = [member] + [value for _key, limit, window in rates for value in (limit, window)]
        self._sent(keys=self._calls(rates), args=args)

    def _calls(self, rates) -> list[str]:
        """Each rate's answered calls, then each rate's calls in flight."""
        return ([f"{self.prefix}{key}:sent" for key, _, _ in rates]
                + [f"{self.prefix}{key}:flying" for key, _, _ in rates])

    def hold(self, key, member, limit):
        return bool(self._hold(keys=[self.prefix + key],
                               args=[member, limit, round(LEASE * 1000)]))

    def free(self, key, member):
        self._redis.zrem(self.prefix + key, member)
