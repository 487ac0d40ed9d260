"""Lua scripts of the Redis state store. Each runs atomically inside Redis (all or nothing).

Errors the store maps to exceptions are returned as error replies starting with a tag:
``STATE`` (stored content is corrupt or of the wrong type), ``EXISTS`` (intent already
written), ``HALTED``, ``LEASE`` (the caller does not hold the trading lease), ``CHANGED`` (the
books changed since the writer read them), ``LOST`` (the books the writer read are gone).

Every write of the books is FENCED (``_FENCE``): it runs only when the writer holds the lease
(operator commands pass no owner), the epoch (one life of the books) is the one it read, the
books version is the one it read and the digest of cost_basis, core_floor and counters matches
what it read (so a change behind the daemon's back is caught too). A fenced write INCRs the
books version and returns ``{version, digest, ...}``: the writer's new view.
"""

from __future__ import annotations

# save_order(orders_hash, open_set, closed_zset, coid, body, version, is_open, score, max,
#            archive_hash, months_set, month)
# Never overwrites a stored order of a higher version (late saves are dropped: returns 0).
# Terminal/LOST orders move from the open set to the closed zset (scored by updated ms),
# which is trimmed to ``max`` entries: the orders trimmed move to the archive hash of this
# month (redis_archive), never dropped.
_SAVE_ORDER = """
local function save_order(hk, ok, ck, coid, body, version, is_open, score, recent_max,
                          ak, mk, month)
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
      for _, id in ipairs(old) do
        local aged = redis.call('HGET', hk, id)
        if aged then redis.call('HSET', ak, id, aged) end
        redis.call('HDEL', hk, id)
      end
      redis.call('SADD', mk, month)
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


# Fenced scripts: KEYS[1..6] = lease, books, epoch, cost_basis, core_floor, counters;
# ARGV[1..4] = owner ('' = no lease check), books version, epoch, digest ('*' for version,
# epoch and digest: an operator write that checks nothing but still moves the version on).
# Their own keys start at KEYS[7], their own arguments at ARGV[5].
_FENCE = """
local function string_at(k)
  local t = redis.call('TYPE', k)['ok']
  if t ~= 'string' and t ~= 'none' then
    return nil, redis.error_reply('STATE ' .. k .. ': holds a ' .. t .. ', expected a string')
  end
  return redis.call('GET', k) or '', nil
end
local function books_digest()
  local parts = {}
  for i = 4, 6 do
    local v, err = string_at(KEYS[i])
    if err then return nil, err end
    parts[#parts + 1] = v
  end
  return redis.sha1hex(table.concat(parts, '\\n')), nil
end
local function fence()
  if ARGV[1] ~= '' then
    local holder = redis.call('GET', KEYS[1])
    if holder ~= ARGV[1] then
      return redis.error_reply('LEASE ' .. KEYS[1] .. ' is held by ' ..
        tostring(holder or 'nobody'))
    end
  end
  local epoch, e1 = string_at(KEYS[3])
  if e1 then return e1 end
  local version, e2 = string_at(KEYS[2])
  if e2 then return e2 end
  if version ~= '' and not string.match(version, '^%d+$') then
    return redis.error_reply('STATE ' .. KEYS[2] .. ': not a version number: ' .. version)
  end
  if ARGV[3] == '*' then
    if epoch == '' then return redis.error_reply('LOST ' .. KEYS[3] .. ' is missing') end
    return nil
  end
  if epoch ~= ARGV[3] then
    return redis.error_reply('LOST ' .. KEYS[3] .. ' is ' .. (epoch == '' and 'missing' or epoch)
      .. ', the books were read under ' .. ARGV[3])
  end
  local v = tonumber(version == '' and '0' or version)
  if v < tonumber(ARGV[2]) then
    return redis.error_reply('LOST ' .. KEYS[2] .. ' went back from ' .. ARGV[2] .. ' to ' .. v)
  end
  if v ~= tonumber(ARGV[2]) then
    return redis.error_reply('CHANGED ' .. KEYS[2] .. ' is ' .. v .. ', the writer read ' ..
      ARGV[2])
  end
  local d, e3 = books_digest()
  if e3 then return e3 end
  if d ~= ARGV[4] then
    return redis.error_reply('CHANGED ' .. KEYS[4] .. ', ' .. KEYS[5] .. ' or ' .. KEYS[6] ..
      ' changed since the writer read them')
  end
  return nil
end
local function fenced_result(...)
  local v = redis.call('INCR', KEYS[2])
  local d = books_digest()
  return {v, d, ...}
end
"""

# KEYS: (fence) orders, open, closed, order archive, months
# ARGV: (fence) coid, body, version, is_open, score, recent_max, month -> {v, d, saved 0|1}
SAVE_ORDER = _FENCE + _SAVE_ORDER + """
local err = fence()
if err then return err end
local r = save_order(KEYS[7], KEYS[8], KEYS[9], ARGV[5], ARGV[6], tonumber(ARGV[7]),
                     tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]),
                     KEYS[10], KEYS[11], ARGV[11])
if r == -1 then return corrupt(KEYS[7], ARGV[5]) end
return fenced_result(r)
"""

# The write-ahead: the ONE Redis call between a decision and its order request. It refuses
# (writing nothing) with LEASE, LOST/CHANGED (the fence), EXISTS or HALTED, in that order;
# else it stores the intent and, when given, the plan that decided it (last plan and the
# capped history: what record_plan writes), all at once.
# KEYS: (fence) orders, open, halted, last_plan, plan_history
# ARGV: (fence) coid, body, plan ('' = none), plan_history_max  -> {v, d, 1}
WRITE_INTENT = _FENCE + """
local err = fence()
if err then return err end
if redis.call('HEXISTS', KEYS[7], ARGV[5]) == 1 then
  return redis.error_reply('EXISTS order ' .. ARGV[5] .. ' is already in ' .. KEYS[7])
end
if redis.call('EXISTS', KEYS[9]) == 1 then
  return redis.error_reply('HALTED ' .. KEYS[9] .. ' is set')
end
for _, kt in ipairs({{KEYS[8], 'set'}, {KEYS[11], 'list'}}) do
  local t = redis.call('TYPE', kt[1])['ok']
  if t ~= kt[2] and t ~= 'none' then  -- checked before anything is written
    return redis.error_reply('STATE ' .. kt[1] .. ': holds a ' .. t .. ', expected a ' .. kt[2])
  end
end
if ARGV[7] ~= '' then
  redis.call('SET', KEYS[10], ARGV[7])
  redis.call('LPUSH', KEYS[11], ARGV[7])
  redis.call('LTRIM', KEYS[11], 0, tonumber(ARGV[8]) - 1)
end
redis.call('HSET', KEYS[7], ARGV[5], ARGV[6])
redis.call('SADD', KEYS[8], ARGV[5])
return fenced_result(1)
"""

# KEYS: (fence) orders, open, closed, balances, order archive, months, then the fill month
#       hashes (redis_archive: the month of each fill and, near a month's edge, its neighbour)
# ARGV: (fence) coid, body, version, is_open, score, recent_max, month, cost_basis,
#       core_floor ('' = keep), counters, balances ('' = keep), n, then per fill: trade_id,
#       fill, its month, the index in KEYS of its month hash, the indexes (comma-separated) of
#       the month hashes it may already be booked in
# Books nothing when any trade id is already booked: {v, d, 0, already...} (version not moved);
# else {v, d, 1, saved} where saved is 1 when the order was written (0: a newer version is
# stored).
BOOK_FILLS = _FENCE + _SAVE_ORDER + """
local err = fence()
if err then return err end
local n = tonumber(ARGV[16])
local already = {}
for i = 0, n - 1 do
  local tid = ARGV[17 + 5 * i]
  for idx in string.gmatch(ARGV[21 + 5 * i], '%d+') do
    if redis.call('HEXISTS', KEYS[tonumber(idx)], tid) == 1 then
      table.insert(already, tid)
      break
    end
  end
end
if #already > 0 then
  local v = redis.call('GET', KEYS[2]) or '0'
  local d = books_digest()
  return {tonumber(v), d, 0, unpack(already)}
end
local r = save_order(KEYS[7], KEYS[8], KEYS[9], ARGV[5], ARGV[6], tonumber(ARGV[7]),
                     tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]),
                     KEYS[11], KEYS[12], ARGV[11])
if r == -1 then return corrupt(KEYS[7], ARGV[5]) end
for i = 0, n - 1 do
  redis.call('HSET', KEYS[tonumber(ARGV[20 + 5 * i])], ARGV[17 + 5 * i], ARGV[18 + 5 * i])
  redis.call('SADD', KEYS[12], ARGV[19 + 5 * i])
end
redis.call('SET', KEYS[4], ARGV[12])
if ARGV[13] ~= '' then redis.call('SET', KEYS[5], ARGV[13]) end
redis.call('SET', KEYS[6], ARGV[14])
if ARGV[15] ~= '' then redis.call('SET', KEYS[10], ARGV[15]) end
return fenced_result(1, r)
"""

# KEYS: (fence) only.  ARGV: (fence) which ('cost_basis' | 'core_floor'), body -> {v, d}
SET_BOOKS_VALUE = _FENCE + """
local err = fence()
if err then return err end
if ARGV[5] == 'cost_basis' then redis.call('SET', KEYS[4], ARGV[6])
elseif ARGV[5] == 'core_floor' then redis.call('SET', KEYS[5], ARGV[6])
else return redis.error_reply('STATE unknown books value ' .. ARGV[5]) end
return fenced_result()
"""

# KEYS: schema, epoch, books, cost_basis, the old fills hash, then the rest of the prefix's
# known keys.  ARGV: schema version, new epoch, the older schemas migrated (comma-separated),
# the cost basis as read ('' = leave it), the cost basis to write instead.  Creates the schema,
# epoch and books version on an EMPTY prefix ({1, epoch}); adds epoch and books version to a
# prefix of this schema written before fencing existed ({2, epoch}); moves a prefix of an older
# schema to this one ({3, epoch, old schema}) once its fills were moved to the archive (else
# {-2, n}: n fills still there), rewriting the cost basis when it is still the one read (the
# books version moves on then); else {0, epoch}.  Content without a schema: STATE error;
# another schema: {-1, schema}.
INIT_SCHEMA = """
local schema = redis.call('GET', KEYS[1])
if not schema then
  for i = 2, #KEYS do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      return redis.error_reply('STATE ' .. KEYS[1] .. ': missing, but ' .. KEYS[i] ..
        ' exists; refusing to adopt content of an unknown schema')
    end
  end
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SET', KEYS[3], '0')
  return {1, ARGV[2]}
end
local from = nil
if schema ~= ARGV[1] then
  if not string.find(',' .. ARGV[3] .. ',', ',' .. schema .. ',', 1, true) then
    return {-1, schema}
  end
  if redis.call('EXISTS', KEYS[5]) == 1 then return {-2, redis.call('HLEN', KEYS[5])} end
  redis.call('SET', KEYS[1], ARGV[1])
  from = schema
  if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[4] then
    redis.call('SET', KEYS[4], ARGV[5])
    redis.call('INCR', KEYS[3])
  end
end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[2], epoch)
  if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SET', KEYS[3], '0') end
  if not from then return {2, epoch} end
end
if from then return {3, epoch, from} end
return {0, epoch}
"""

# KEYS: 9 strings (schema, epoch, books, cost_basis, core_floor, counters, balances, last_plan,
#       halted), orders (hash), orders:open (set), orders:closed (zset), plan_history (list),
#       heartbeat (string), lease (string)
# ARGV: how many of the newest closed orders, the score (ms) from which every closed order is
#       read too (the LOST ones still watched), the most of those
# Every key's type is checked (a wrong type is a STATE error naming the key); returns the 9
# strings (false when missing), then the orders read as pairs (id, body or false): the open
# ones, the newest closed ones and those closed since the score; then SMEMBERS open.  The
# closed orders beyond those (up to redis.recent_orders_max) stay in Redis for the commands.
LOAD_STATE = """
local want = {'string', 'string', 'string', 'string', 'string', 'string', 'string', 'string',
              'string', 'hash', 'set', 'zset', 'list', 'string', 'string'}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  if t ~= 'none' and t ~= want[i] then
    return redis.error_reply('STATE ' .. k .. ': holds a ' .. t .. ', expected a ' .. want[i])
  end
end
local out = {}
for i = 1, 9 do out[i] = redis.call('GET', KEYS[i]) end
local open = redis.call('SMEMBERS', KEYS[11])
local ids, seen = {}, {}
local function add(list)
  for _, id in ipairs(list) do
    if not seen[id] then seen[id] = true; table.insert(ids, id) end
  end
end
add(open)
if tonumber(ARGV[1]) > 0 then add(redis.call('ZREVRANGE', KEYS[12], 0, tonumber(ARGV[1]) - 1)) end
add(redis.call('ZRANGEBYSCORE', KEYS[12], ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[3])))
local pairs_out = {}
for _, id in ipairs(ids) do
  table.insert(pairs_out, id)
  table.insert(pairs_out, redis.call('HGET', KEYS[10], id))
end
out[10] = pairs_out
out[11] = open
return out
"""

# KEYS: schema, epoch, books -> their values (false when missing), each type checked
BOOKS_MARKER = """
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  if t ~= 'none' and t ~= 'string' then
    return redis.error_reply('STATE ' .. k .. ': holds a ' .. t .. ', expected a string')
  end
end
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""

# The lease is held on several keys at once (issue 18): the process's key and every pair's own
# books-prefix key (one key for a single pair), all with the same owner token and TTL, so a
# pair's books are fenced against every other process trading that pair.
# KEYS: lease keys (the process's first)   ARGV: owner, ttl_ms
# Taken only when every key is free or already the owner's; else nothing is set (0).
LEASE_ACQUIRE = """
for _, k in ipairs(KEYS) do
  local holder = redis.call('GET', k)
  if holder and holder ~= ARGV[1] then return 0 end
end
for _, k in ipairs(KEYS) do
  redis.call('SET', k, ARGV[1], 'PX', ARGV[2])
end
return 1
"""

# KEYS: lease keys   ARGV: owner, ttl_ms
# Renewed only when every key is still the owner's; else nothing is extended (0: lost).
LEASE_RENEW = """
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) ~= ARGV[1] then return 0 end
end
for _, k in ipairs(KEYS) do
  redis.call('PEXPIRE', k, ARGV[2])
end
return 1
"""

# KEYS: lease keys   ARGV: owner
# Deletes the keys the owner holds (never another's); 1 when it held any.
LEASE_RELEASE = """
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    redis.call('DEL', k)
    n = n + 1
  end
end
if n > 0 then return 1 end
return 0
"""
