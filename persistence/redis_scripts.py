"""The Lua scripts of the Redis store: each one is one atomic operation of the contract.

Every key a script touches is passed in KEYS (Redis Cluster routes on them); the session
scripts touch only keys with the session's hash tag, the schedule and ownership scripts
only keys with the cluster-wide tag. The rules they encode are stated in
``persistence.rules``. Numbers arrive as text and are compared as Lua numbers (doubles).
"""

from __future__ import annotations

# A session record is one string: "<version> <applied seq> <created> <updated> <doc hash>\n
# <outbox JSON>\n<snapshot>" (one key, no per-field overhead; the snapshot is last so that
# it never needs escaping).

# KEYS: record, lease. ARGV: version, fence ('' for none), the packed record.
# Returns the status OK (a one-line reply: the common case costs the least to read), {'N'}
# (identical rewrite), {'L', current fence} or {'V', stored version}.
WRITE_SESSION = """
if ARGV[2] ~= '' then
  local lease = redis.call('HMGET', KEYS[2], 'w', 'f')
  if not lease[1] or lease[2] ~= ARGV[2] then
    return {'L', lease[1] and lease[2] or ''}
  end
end
local version = tonumber(ARGV[1])
-- Only the version (the first field) is needed on the common path: no copy of the record.
local stored = tonumber(string.match(redis.call('GETRANGE', KEYS[1], 0, 24), '^(%d+) ') or '0')
if stored ~= version - 1 then
  if stored == version then
    local function snapshot_of(record)
      local header_end = string.find(record, '\\n', 1, true)
      return string.sub(record, string.find(record, '\\n', header_end + 1, true) + 1)
    end
    if snapshot_of(redis.call('GET', KEYS[1])) == snapshot_of(ARGV[3]) then
      return {'N'}
    end
  end
  return {'V', tostring(stored)}
end
redis.call('SET', KEYS[1], ARGV[3])
return redis.status_reply('OK')
"""

# KEYS: record. ARGV: version.
CLEAR_OUTBOX = """
local current = redis.call('GET', KEYS[1])
if not current or tonumber(string.match(current, '^(%d+) ')) ~= tonumber(ARGV[1]) then
  return 0
end
local header_end = string.find(current, '\\n', 1, true)
local outbox_end = string.find(current, '\\n', header_end + 1, true)
if outbox_end > header_end + 1 then
  redis.call('SET', KEYS[1], string.sub(current, 1, header_end) .. string.sub(current, outbox_end))
end
return 0
"""

# KEYS: record, mailbox index, mailbox payloads, lease, finished. ARGV: finished JSON, ttl ms.
FINISH_SESSION = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[2])
return 0
"""

# KEYS: mailbox index (event id by seq), mailbox payloads. ARGV: event id, payload, ...
# Returns the sequence number of each event (the old one for a known id).
APPEND_EVENTS = """
local seqs = {}
for i = 1, #ARGV, 2 do
  local seq = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not seq then
    seq = redis.call('HINCRBY', KEYS[2], 'n', 1)
    redis.call('ZADD', KEYS[1], seq, ARGV[i])
    redis.call('HSET', KEYS[2], seq, ARGV[i + 1])
  end
  seqs[#seqs + 1] = tonumber(seq)
end
return seqs
"""

# KEYS: mailbox index, mailbox payloads. ARGV: after seq, limit.
# Returns seq, event id, payload, ... oldest first.
READ_MAILBOX = """
local trimmed = tonumber(redis.call('HGET', KEYS[2], 't') or '0')
local after = math.max(tonumber(ARGV[1]), trimmed)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. after, '+inf', 'WITHSCORES',
                      'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #ids, 2 do
  local payload = redis.call('HGET', KEYS[2], ids[i + 1])
  if payload then
    out[#out + 1] = ids[i + 1]
    out[#out + 1] = ids[i]
    out[#out + 1] = payload
  end
end
return out
"""

# KEYS: mailbox index, mailbox payloads. ARGV: upto seq, dedup window.
# Payloads go now; event ids stay in the index for the dedup window.
TRIM_MAILBOX = """
local trimmed = tonumber(redis.call('HGET', KEYS[2], 't') or '0')
local upto = math.min(tonumber(ARGV[1]), tonumber(redis.call('HGET', KEYS[2], 'n') or '0'))
if upto <= trimmed then
  return 0
end
for seq = trimmed + 1, upto do
  redis.call('HDEL', KEYS[2], seq)
end
redis.call('HSET', KEYS[2], 't', upto)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', upto - tonumber(ARGV[2]))
return 0
"""

# KEYS: lease. ARGV: owner, now, expires_at. Returns the fence, or nil when held by another.
ACQUIRE_LEASE = """
local lease = redis.call('HMGET', KEYS[1], 'w', 'f', 'x')
local fence = tonumber(lease[2] or '0')
local live = lease[1] and tonumber(lease[3]) > tonumber(ARGV[2])
if live and lease[1] ~= ARGV[1] then
  return false
end
if not live then
  fence = fence + 1
end
redis.call('HSET', KEYS[1], 'w', ARGV[1], 'f', fence, 'x', ARGV[3])
return fence
"""

# KEYS: lease. ARGV: owner, fence. The fence stays, so the next grant increases it.
RELEASE_LEASE = """
local lease = redis.call('HMGET', KEYS[1], 'w', 'f')
if lease[1] == ARGV[1] and lease[2] == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'w')
  redis.call('HSET', KEYS[1], 'x', '0')
end
return 0
"""

# Schedules. KEYS: by-eligibility sorted set, items hash, claims hash.
# An item's score is when it may next fire: its due time, or its claim's expiry if later,
# so the range scan of due items does not walk over items being run.

# ARGV: item id, item JSON, due_at.
PUT_SCHEDULE = """
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 0
"""

# ARGV: item id, expected item JSON, new item JSON ('' to remove), new due. 0 if the
# stored item is not the expected one.
REPLACE_SCHEDULE = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
return 1
"""

# ARGV: item id.
REMOVE_SCHEDULE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 0
"""

# ARGV: until, now, limit. Returns item JSON texts (unclaimed, or claim expired).
DUE_SCHEDULES = """
local limit = tonumber(ARGV[3])
local now = tonumber(ARGV[2])
local out = {}
local offset = 0
while #out < limit do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', offset, limit)
  if #ids == 0 then
    break
  end
  offset = offset + #ids
  for _, id in ipairs(ids) do
    local claim = redis.call('HGET', KEYS[3], id)
    if (not claim or tonumber(claim) <= now) and #out < limit then
      out[#out + 1] = redis.call('HGET', KEYS[2], id)
    end
  end
end
return out
"""

# ARGV: item id, now, claim expiry, expected item JSON. Returns 1 when claimed, 0 when it
# is claimed, or stored no more as expected.
CLAIM_SCHEDULE = """
local item = redis.call('HGET', KEYS[2], ARGV[1])
if item ~= ARGV[4] then
  return 0
end
local claim = redis.call('HGET', KEYS[3], ARGV[1])
if claim and tonumber(claim) > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local due = cjson.decode(item)['due']
redis.call('ZADD', KEYS[1], math.max(due, tonumber(ARGV[3])), ARGV[1])
return 1
"""

# Ownership. KEYS: owners hash, new node's set, previous node's set.
# ARGV: session id, new node, previous node ('' for none). 0 if the owner moved meanwhile.
SET_OWNER = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[3] then
  return 0
end
if current ~= '' then
  redis.call('SREM', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# KEYS: owners hash, owner's set. ARGV: session id, owner. 0 if the owner moved meanwhile.
DROP_OWNER = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: nodes hash, owners hash, node's set. ARGV: node.
REMOVE_NODE = """
for _, sessionid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('HGET', KEYS[2], sessionid) == ARGV[1] then
    redis.call('HDEL', KEYS[2], sessionid)
  end
end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[1], ARGV[1])
return 0
"""
