import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { checkPool } from '../../config/poolrules.js';
import { redisConnector } from '../../cluster/connection.js';
import type { RedisSentinelConfig } from '../../config/types.js';
import { isUnavailable } from '../../cluster/store.js';
import { PoolFollower, type Held } from '../../cluster/follower.js';
import { PoolWriter } from '../../cluster/writer.js';
import type { Pool } from '../../config/pool.js';
import { SentinelServer } from '../../scripts/lab/redis.js';
import {
  backend, fastTuning, LogCapture, nthAddress, startRedis, waitFor, webPool,
} from './support.js';

const PASSWORD = 'sentinel-test';
const FAILOVER_AFTER = 10;
const AFTER_FAILOVER = 10;

/** Adds the backend unless a write whose outcome was unknown already did. */
const addOnce = (address: string) => (pool: Pool): Pool => ({
  ...pool,
  services: pool.services.map((s) => (s.backends.some((b) => b.address === address) ? s
    : { ...s, backends: [...s.backends, backend(address, 8080)] })),
});

test('Sentinel: a failover during edits; writer and followers find the new master and converge', async (t) => {
  // As README "Cluster" advises: a master that has lost its replica refuses writes, so a master being replaced by a
  // failover cannot acknowledge an edit that the new one never gets. (Only here: the replica, once promoted, has none.)
  const master = await startRedis(t, { password: PASSWORD, config: ['min-replicas-to-write 1',
    'min-replicas-max-lag 10', 'repl-diskless-sync-delay 0'] });
  const replica = await startRedis(t, { password: PASSWORD, replicaOf: { host: master.host, port: master.port } });
  const sentinel = await SentinelServer.start({ master: { host: master.host, port: master.port }, authPass: PASSWORD });
  t.teardown(async () => {
    if (!t.passed) {
      t.log(`sentinel:\n${sentinel.log.slice(-3000)}`);
      for (const s of [master, replica]) {
        t.log(`port ${s.port}: ${(await s.cli('INFO', 'replication')).stdout}\nkeys: ${(await s.cli('DBSIZE')).stdout}`);
      }
    }
    await sentinel.destroy();
  });
  await waitFor('the Sentinel to know the replica, in sync', async () => {
    const lines = (await sentinel.cli('SENTINEL', 'replicas', sentinel.name)).stdout.split('\n');
    return lines[lines.indexOf('master-link-status') + 1] === 'ok' && lines.includes(String(replica.port));
  }, 30_000);

  const dir = mkdtempSync(join(tmpdir(), 'xlb-sentinel-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'password'), PASSWORD);
  const config: RedisSentinelConfig = { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: sentinel.name, db: 0,
    tls: false, keyPrefix: 'xlb', passwordFile: join(dir, 'password') };
  const logs = new LogCapture();
  const writer = new PoolWriter({ connector: redisConnector(config, 'lb-a', fastTuning()), keyPrefix: 'xlb',
    nodeId: 'lb-a', logger: logs.logger });
  const owners: Held[] = [{ pool: webPool(), version: 0 }, { pool: webPool(), version: 0 }];
  const followers = owners.map((held, i) => new PoolFollower({
    connector: redisConnector(config, `lb-${i}`, fastTuning()), keyPrefix: 'xlb', nodeId: `lb-${i}`, held: () => held, onPool: (u) => void Object.assign(held, { pool: u.pool, version: u.version }),
    logger: logs.logger,
  }));
  for (const f of followers) f.start();
  t.teardown(async () => {
    for (const f of followers) await f.stop();
    await writer.close();
    if (!t.passed) t.log(logs.text());
  });
  await waitFor('both followers on the seeded pool', () => owners.every((o) => o.version === 1));
  await waitFor('the writer', () => writer.connected);

  // Edits run before the failover, while it happens and until AFTER_FAILOVER have gone through once it is over.
  let failover: Promise<unknown> | undefined;
  let over = false;
  let failed: unknown;
  let unavailable = 0;
  let after = 0;
  let last: { version: number; address: string } | undefined;
  for (let i = 0; after < AFTER_FAILOVER; i++) {
    if (i === FAILOVER_AFTER) {
      // Replication is asynchronous (after its first sync a replica gets the writes buffered meanwhile only once it
      // has acknowledged, up to a second later): the failover starts from a replica holding what was written so far.
      await waitFor('the replica to catch up', async () =>
        (await replica.cli('GET', 'xlb:pool:version')).stdout.trim() === String(last!.version));
      failover = sentinel.must('SENTINEL', 'FAILOVER', sentinel.name).then(() => waitFor('the new master', async () =>
        (await sentinel.master()).port === replica.port && (await replica.must('ROLE')).startsWith('master'), 30_000))
        .then(() => (over = true));
      failover.catch((err: unknown) => (failed = err));
    }
    if (failed) throw failed;
    const overBefore = over;
    // An operator retrying an edit that failed because Redis was failing over.
    const address = nthAddress(i);
    const written = await waitFor(`edit ${i} to go through`, () => writer.edit({ kind: 'backend add' }, addOnce(address))
      .catch((err: unknown) => {
        if (!isUnavailable(err)) throw err;
        unavailable++;
        return new Promise<undefined>((resolve) => setTimeout(resolve, 50));
      }), 30_000);
    last = { version: written.version, address };
    if (overBefore) after++;
  }
  await failover;
  t.log(`edits refused as unavailable during the failover: ${unavailable}`);
  t.deepEqual(await sentinel.master(), { host: '127.0.0.1', port: replica.port }, 'the replica is the master now');

  // Everyone converges on what the new master holds, and the edits made on it are there.
  const onMaster = async () => ({
    version: Number(await replica.must('GET', 'xlb:pool:version')),
    pool: checkPool(JSON.parse(await replica.must('GET', 'xlb:pool'))).pool!,
  });
  const final = await onMaster();
  t.is(final.version, last!.version);
  t.true(final.pool.services[0]!.backends.some((b) => b.address === last!.address));
  await waitFor('both followers to converge', () => owners.every((o) => o.version === final.version) &&
    followers.every((f) => f.status().state === 'synced'));
  for (const o of owners) t.deepEqual(o.pool, final.pool);
});
