// The pool's keys in Redis, all under one prefix (`redis.key_prefix`, default "xlb"); README "Cluster" documents them.
//
//   <prefix>:pool           string   the pool document: JSON shaped like the YAML's `services:` and `deny:` sections
//   <prefix>:pool:version   string   an integer >= 1, raised by one at every write; absent with the pool: no pool yet
//   <prefix>:pool:changes   stream   one record per write (version, node, kind, detail), capped (MAXLEN ~ 1000)
//   <prefix>:pool:nudge     channel  PUBLISHed the new version after every write: a hint to look, at most once
//
// Every write changes the first three in one Lua script and then publishes (./scripts.ts).

export interface PoolKeys {
  pool: string;
  version: string;
  changes: string;
  /** A pub/sub channel, not a key. */
  nudge: string;
}

export function poolKeys(prefix: string): PoolKeys {
  return {
    pool: `${prefix}:pool`,
    version: `${prefix}:pool:version`,
    changes: `${prefix}:pool:changes`,
    nudge: `${prefix}:pool:nudge`,
  };
}
