"""The Honor Wall's Lua scripts (``redis_wall.HonorWall`` registers them): each runs
atomically on the keys of one board, or on the profiles hash, so they stay legal on
Redis Cluster.
"""

# One donor's placement on one board, unless a newer version is there already.
# KEYS: listed, shadow, versions, rev. ARGV: member, version, placement, score.
APPLY = """
local current = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '-1')
if tonumber(ARGV[2]) <= current then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if ARGV[3] == 'listed' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif ARGV[3] == 'shadow' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
redis.call('INCR', KEYS[4])
return 1
"""

# Reads, one round trip each. Scores are exact integers below 2**53; Lua would print
# them with 14 digits, so they are formatted with %.0f before going back to Redis.
# KEYS: listed, rev. ARGV: offset, limit, 2**31.
PAGE = """
local span = tonumber(ARGV[3])
local rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[1] + ARGV[2] - 1, 'WITHSCORES')
local higher = 0
if #rows > 0 and tonumber(ARGV[1]) > 0 then
  local clips = math.floor(tonumber(rows[2]) / span)
  higher = redis.call('ZCOUNT', KEYS[1], string.format('%.0f', (clips + 1) * span), '+inf')
end
return {redis.call('GET', KEYS[2]) or '0', redis.call('ZCARD', KEYS[1]), rows, higher}
"""

# KEYS: listed, shadow, rev. ARGV: member, around, 2**31.
STANDING = """
local span = tonumber(ARGV[3])
local around = tonumber(ARGV[2])
local total = redis.call('ZCARD', KEYS[1])
local listed = redis.call('ZSCORE', KEYS[1], ARGV[1])
local score = listed or redis.call('ZSCORE', KEYS[2], ARGV[1])
local position, higher, start, stop = -1, 0, 0, -1
if not score then
  start = math.max(total - around, 0)
  stop = total - 1
else
  local clips = math.floor(tonumber(score) / span)
  higher = redis.call('ZCOUNT', KEYS[1], string.format('%.0f', (clips + 1) * span), '+inf')
  if listed then
    position = redis.call('ZREVRANK', KEYS[1], ARGV[1])
    stop = position + around
  else
    position = redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', tonumber(score)), '+inf')
    stop = position + around - 1
  end
  start = math.max(position - math.max(around, 1), 0)
end
local rows = {}
if stop >= start then rows = redis.call('ZREVRANGE', KEYS[1], start, stop, 'WITHSCORES') end
local first_higher = 0
if #rows > 0 then
  local clips = math.floor(tonumber(rows[2]) / span)
  first_higher = redis.call('ZCOUNT', KEYS[1], string.format('%.0f', (clips + 1) * span), '+inf')
end
return {redis.call('GET', KEYS[3]) or '0', total, listed and 1 or 0, score or '', position,
        higher, start, rows, first_higher}
"""

# KEYS: profiles. ARGV: member, profile JSON (with its version "v"), version.
PROFILE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local ok, known = pcall(cjson.decode, current)
  if ok and known.v and tonumber(known.v) >= tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# A rebuild's chunk, packed into one argument of lines: the server splits 10,000 lines
# faster than a client sends 30,000 arguments (docs/performance.md, the wall rebuild).
# Lines "member version placement score", placement l(isted), s(hadow) or r(emoved);
# scores are integers, passed on as the strings they came as (never Lua numbers).
# KEYS: temp listed, temp shadow, temp versions. ARGV: the lines. Returns lines read.
FILL = """
local listed, shadow, versions = {}, {}, {}
local n, l, s = 0, 0, 0  -- counted, not #t: a table's length is a search
for member, version, placement, score in string.gmatch(ARGV[1], '(%d+) (%d+) (%a) (%d+)') do
  n = n + 1
  versions[2 * n - 1] = member
  versions[2 * n] = version
  if placement == 'l' then
    l = l + 1
    listed[2 * l - 1] = score
    listed[2 * l] = member
  elseif placement == 's' then
    s = s + 1
    shadow[2 * s - 1] = score
    shadow[2 * s] = member
  end
end
local function write(command, key, values)  -- in slices: Lua's C stack holds ~8,000
  for i = 1, #values, 4000 do
    redis.call(command, key, unpack(values, i, math.min(i + 3999, #values)))
  end
end
write('ZADD', KEYS[1], listed)
write('ZADD', KEYS[2], shadow)
write('HSET', KEYS[3], versions)
return n
"""

# A rebuild's chunk of public profiles, each written only where none is (never over
# a newer drain's profile): which are known asked with HMGET, the others set with one
# HSET, a slice at a time (a command per member would cost Redis more than the rest of
# the rebuild). Lines "member profile-JSON": JSON as json.dumps writes it holds no
# newline. KEYS: profiles. ARGV: the lines. Returns profiles written.
PROFILES_IF_ABSENT = """
local members, profiles = {}, {}
local n = 0
for member, profile in string.gmatch(ARGV[1], '(%d+) ([^\\n]+)') do
  n = n + 1
  members[n] = member
  profiles[n] = profile
end
local written = 0
for i = 1, n, 2000 do
  local last = math.min(i + 1999, n)
  local known = redis.call('HMGET', KEYS[1], unpack(members, i, last))
  local missing, m = {}, 0
  for k = 1, last - i + 1 do
    if not known[k] then
      m = m + 1
      missing[2 * m - 1] = members[i + k - 1]
      missing[2 * m] = profiles[i + k - 1]
    end
  end
  if m > 0 then
    redis.call('HSET', KEYS[1], unpack(missing, 1, 2 * m))
    written = written + m
  end
end
return written
"""

# KEYS: temp listed, temp shadow, temp versions, listed, shadow, versions, rev
SWAP = """
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i + 3])
  else
    redis.call('DEL', KEYS[i + 3])
  end
end
return redis.call('INCR', KEYS[7])
"""

# Outbox row ids the drain after a commit applied, taken (oldest first) by the
# wall-drain job to mark them applied in the database. KEYS: the list. ARGV: how many.
TAKE_APPLIED = """
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids > 0 then redis.call('LTRIM', KEYS[1], #ids, -1) end
return ids
"""
