// The Lua scripts that read and write the pool's keys (./keys.ts), each one atomic step on the server. KEYS are always
// pool, version, changes. A script never fails half-way: every type is checked before the first write, since Redis does
// not roll back a script that errors after writing.
//
// READ  -> {poolType, pool|nil, versionType, version|nil, changesType, lastId|nil, lastVersion|nil}
//       lastId and lastVersion: the newest change record's id and the version it made.
// WRITE ARGV expected, document, node, kind, detail, maxlen, channel
//       -> {"ok", version} | {"conflict", current} | {"bad", key, message}
//       The version must be `expected` (0: none); then SET the document, INCR the version, XADD the change record,
//       PUBLISH the new version.
// SEED  ARGV document, version, node, detail, maxlen, channel
//       -> {"seeded", version} | {"held", current|nil} | {"bad", key, message}
//       Writes `document` at `version` (not INCR: a node re-seeding an emptied Redis keeps the version it holds) when
//       there is no pool, or when the pool there is itself a seed nobody has edited since (the newest change record
//       is a seed) and older than `version`: of two nodes re-seeding, the newer pool wins; an edited pool always stays.

/** Shared by WRITE and SEED: the version key as a number (0 when absent), or a "bad" reply. */
const CHECKS = `
local function version_of(key)
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then return 0 end
  if t ~= 'string' then return nil, {'bad', key, 'holds a ' .. t .. ', not an integer'} end
  local raw = redis.call('GET', key)
  if not string.match(raw, '^[1-9][0-9]*$') or #raw > 14 then
    return nil, {'bad', key, '"' .. string.sub(raw, 1, 40) .. '" is not an integer from 1'}
  end
  return tonumber(raw)
end
local function stream_ok(key)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= 'stream' then return {'bad', key, 'holds a ' .. t .. ', not a stream of change records'} end
end
`;

export const READ = `
local pt = redis.call('TYPE', KEYS[1])['ok']
local pool = false
if pt == 'string' then pool = redis.call('GET', KEYS[1]) end
local vt = redis.call('TYPE', KEYS[2])['ok']
local version = false
if vt == 'string' then version = redis.call('GET', KEYS[2]) end
local st = redis.call('TYPE', KEYS[3])['ok']
local last, made = false, false
if st == 'stream' then
  local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #newest > 0 then
    last = newest[1][1]
    local fields = newest[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'version' then made = fields[i + 1] end
    end
  end
end
return {pt, pool, vt, version, st, last, made}
`;

export const WRITE = `${CHECKS}
local current, bad = version_of(KEYS[2])
if bad then return bad end
bad = stream_ok(KEYS[3])
if bad then return bad end
if current ~= tonumber(ARGV[1]) then return {'conflict', current} end
redis.call('SET', KEYS[1], ARGV[2])
local v = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'version', v, 'node', ARGV[3], 'kind', ARGV[4], 'detail', ARGV[5])
redis.call('PUBLISH', ARGV[7], v)
return {'ok', v}
`;

export const SEED = `${CHECKS}
local bad = stream_ok(KEYS[3])
if bad then return bad end
local wanted = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  local current, badv = version_of(KEYS[2])
  if badv or current == 0 then return {'held', false} end
  if current >= wanted then return {'held', current} end
  local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #newest == 0 then return {'held', current} end
  local fields, kind = newest[1][2], nil
  for i = 1, #fields, 2 do
    if fields[i] == 'kind' then kind = fields[i + 1] end
  end
  if kind ~= 'seed' then return {'held', current} end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'version', ARGV[2], 'node', ARGV[3], 'kind', 'seed', 'detail', ARGV[4])
redis.call('PUBLISH', ARGV[6], ARGV[2])
return {'seeded', wanted}
`;
