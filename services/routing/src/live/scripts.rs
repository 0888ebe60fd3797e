//! The Lua scripts that make reservations and presence changes atomic
//! across routing replicas.

// KEYS: load hash of the channel, hold hash, held set of the agent, presence
// hash, round-robin hash. ARGV: user, capacity, ticket, channel, mode ("1"
// skips capacity and presence, "2" skips presence only, "0" checks both),
// and the group whose round-robin position moves to the user ('' for none).
// Answers `ok:<load after>`, `full:<load>`, `offline:<presence>` or
// `held:<user>`, so the caller's copy of the state learns the truth.
pub(super) const RESERVE: &str = r"
local holder = redis.call('HGET', KEYS[2], ARGV[3])
if holder then
  local sep = string.find(holder, '|', 1, true)
  return 'held:' .. string.sub(holder, 1, sep - 1)
end
if ARGV[5] == '0' then
  local p = redis.call('HGET', KEYS[4], ARGV[1]) or 'offline'
  if p ~= 'online' then return 'offline:' .. p end
end
if ARGV[5] ~= '1' then
  local load = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
  if load >= tonumber(ARGV[2]) then return 'full:' .. load end
end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1] .. '|' .. ARGV[4])
redis.call('SADD', KEYS[3], ARGV[3])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[5], ARGV[6], ARGV[1]) end
return 'ok:' .. n
";

// KEYS: hold hash, the tenant's epoch. ARGV: ticket, load key prefix, held
// key prefix, and the only holder to release ('' for any). Answers
// `user|channel|load after`. Freeing capacity moves the epoch (see `live::room`).
pub(super) const RELEASE: &str = r"
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if not holder then return false end
local sep = string.find(holder, '|', 1, true)
local user = string.sub(holder, 1, sep - 1)
local channel = string.sub(holder, sep + 1)
if ARGV[4] ~= '' and ARGV[4] ~= user then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local n = redis.call('HINCRBY', ARGV[2] .. channel, user, -1)
if n <= 0 then redis.call('HDEL', ARGV[2] .. channel, user) end
redis.call('SREM', ARGV[3] .. user, ARGV[1])
redis.call('INCR', KEYS[2])
return holder .. '|' .. math.max(n, 0)
";

// KEYS: presence hash, heartbeat zset, the tenant's epoch. ARGV: user,
// presence, member, deadline ms. Returns the previous presence. Any change
// moves the epoch (see `live::room`): an agent coming online or back from away
// may have room.
pub(super) const SET_PRESENCE: &str = r"
local old = redis.call('HGET', KEYS[1], ARGV[1]) or 'offline'
if old ~= ARGV[2] then redis.call('INCR', KEYS[3]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[2] == 'offline' then
  redis.call('ZREM', KEYS[2], ARGV[3])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
end
return old
";

// KEYS: presence hash, heartbeat zset. ARGV: user, member, deadline ms.
// Extends the deadline of an agent who is not offline; returns the presence.
pub(super) const HEARTBEAT: &str = r"
local p = redis.call('HGET', KEYS[1], ARGV[1]) or 'offline'
if p ~= 'offline' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2]) end
return p
";

// KEYS: heartbeat zset. ARGV: now ms, limit, presence key prefix.
// Marks agents whose deadline passed offline; returns `tenant/user` members.
pub(super) const EXPIRE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local sep = string.find(member, '/', 1, true)
  local tenant = string.sub(member, 1, sep - 1)
  local user = string.sub(member, sep + 1)
  local key = ARGV[3] .. tenant
  local old = redis.call('HGET', key, user) or 'offline'
  if old ~= 'offline' then
    redis.call('HSET', key, user, 'offline')
    table.insert(out, member .. '|' .. old)
  end
end
return out
";

// KEYS: presence hash, load hash of the channel. ARGV: '1' when away agents
// count (an agent pulling work), then n users, then their n capacities.
// Answers `index, presence (1 online, 2 away), load` flattened, for each
// user who is online (or away, with '1') and under capacity: usually
// nobody, so the answer stays small however large the group. Read in
// chunks, since Lua's `unpack` is bounded by its stack.
pub(super) const ROOM: &str = r"
local n = (#ARGV - 1) / 2
local out = {}
local i = 1
while i <= n do
  local j = math.min(i + 999, n)
  local pres = redis.call('HMGET', KEYS[1], unpack(ARGV, i + 1, j + 1))
  local load = redis.call('HMGET', KEYS[2], unpack(ARGV, i + 1, j + 1))
  for k = i, j do
    local p = pres[k - i + 1]
    local code = (p == 'online' and 1) or (ARGV[1] == '1' and p == 'away' and 2) or 0
    if code > 0 then
      local l = tonumber(load[k - i + 1] or '0')
      if l < tonumber(ARGV[n + 1 + k]) then
        table.insert(out, k - 1)
        table.insert(out, code)
        table.insert(out, l)
      end
    end
  end
  i = j + 1
end
return out
";
