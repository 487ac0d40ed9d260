"""Lua scripts of the Redis state store. Each runs atomically inside Redis (all or nothing).

Errors the store maps to exceptions are returned as error replies starting with a tag:
``STATE`` (stored content is corrupt), ``EXISTS`` (intent already written), ``HALTED``,
``LEASE`` (the caller does not hold the trading lease).
"""

from __future__ import annotations

# save_order(orders_hash, open_set, closed_zset, coid, body, version, is_open, score, max)
# Never overwrites a stored order of a higher version (late saves are dropped: returns 0).
# Terminal/LOST orders move from the open set to the closed zset (scored by updated ms),
# which is trimmed to ``max`` entries (their hash fields are deleted with them).
_SAVE_ORDER = """
local function save_order(hk, ok, ck, coid, body, version, is_open, score, recent_max)
  local cur = redis.call('HGET', hk, coid)
  if cur then
    local good, dec = pcall(cjson.decode, cur)
    if not good or type(dec) ~= 'table' or type(dec['version']) ~= 'number' then
      return -1
    end
    if dec['version'] > version then return 0 end
  end
  redis.call('HSET', hk, coid, body)
  if is_open == 1 then
    redis.call('SADD', ok, coid)
    redis.call('ZREM', ck, coid)
  else
    redis.call('SREM', ok, coid)
    redis.call('ZADD', ck, score, coid)
    local extra = redis.call('ZCARD', ck) - recent_max
    if extra > 0 then
      local old = redis.call('ZRANGE', ck, 0, extra - 1)
      for _, id in ipairs(old) do redis.call('HDEL', hk, id) end
      redis.call('ZREMRANGEBYRANK', ck, 0, extra - 1)
    end
  end
  return 1
end
local function corrupt(hk, coid)
  return redis.error_reply('STATE ' .. hk .. ' field ' .. coid ..
    ': stored order is not a JSON object with a numeric version')
end
"""

# KEYS: orders, open, closed
# ARGV: coid, body, version, is_open, score, recent_max
SAVE_ORDER = _SAVE_ORDER + """
local r = save_order(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]),
                     tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
if r == -1 then return corrupt(KEYS[1], ARGV[1]) end
return r
"""

# KEYS: orders, open, halted, lease
# ARGV: coid, body, lease_owner ('' = do not check the lease)
WRITE_INTENT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return redis.error_reply('EXISTS order ' .. ARGV[1] .. ' is already in ' .. KEYS[1])
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return redis.error_reply('HALTED ' .. KEYS[3] .. ' is set')
end
if ARGV[3] ~= '' then
  local holder = redis.call('GET', KEYS[4])
  if holder ~= ARGV[3] then
    return redis.error_reply('LEASE ' .. KEYS[4] .. ' is held by ' .. tostring(holder or 'nobody'))
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# KEYS: fills, orders, open, closed, cost_basis, core_floor, counters, balances
# ARGV: coid, body, version, is_open, score, recent_max, cost_basis, core_floor ('' = keep),
#       counters, balances ('' = keep), n, then n pairs trade_id, fill_json
# Books nothing when any trade id is already booked: returns {0, already...}; else {1, saved}
# where saved is 1 when the order was written (0: a newer version is stored).
BOOK_FILLS = _SAVE_ORDER + """
local n = tonumber(ARGV[11])
local already = {}
for i = 1, n do
  local tid = ARGV[10 + 2 * i]
  if redis.call('HEXISTS', KEYS[1], tid) == 1 then table.insert(already, tid) end
end
if #already > 0 then
  table.insert(already, 1, 0)
  return already
end
local r = save_order(KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], tonumber(ARGV[3]),
                     tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
if r == -1 then return corrupt(KEYS[2], ARGV[1]) end
for i = 1, n do
  redis.call('HSET', KEYS[1], ARGV[10 + 2 * i], ARGV[11 + 2 * i])
end
redis.call('SET', KEYS[5], ARGV[7])
if ARGV[8] ~= '' then redis.call('SET', KEYS[6], ARGV[8]) end
redis.call('SET', KEYS[7], ARGV[9])
if ARGV[10] ~= '' then redis.call('SET', KEYS[8], ARGV[10]) end
return {1, r}
"""

# KEYS: lease   ARGV: owner, ttl_ms
LEASE_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease   ARGV: owner, ttl_ms
LEASE_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease   ARGV: owner
LEASE_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
