import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { RedisSentinelConfig } from '../../config/types.js';
import { Redis, type RedisOptions } from 'ioredis';
import {
  backoff, DEFAULT_TUNING, describeEndpoint, GuardedSentinelConnector, GuardedStandaloneConnector, readSecrets,
  redisOptions, type RedisConfig,
} from '../../cluster/connection.js';
import { ClusterError } from '../../cluster/errors.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function tempFiles(t: { teardown(fn: () => void): void }, files: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'xlb-conn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return Object.fromEntries(Object.entries(files).map(([name, text]) => {
    writeFileSync(join(dir, name), text);
    return [name, join(dir, name)];
  }));
}

/** The options that matter for behaviour, without functions. */
function plain(o: ReturnType<typeof redisOptions>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v !== 'function'));
}

test('a redis:// URL: host, port, database, user and password; no queueing, no resending', (t) => {
  const o = redisOptions({ url: 'redis://app:s%40cret@10.0.0.5:6380/2', keyPrefix: 'xlb' }, {}, 'commands', 'lb-a');
  t.like(o, {
    host: '10.0.0.5', port: 6380, db: 2, username: 'app', password: 's@cret', connectionName: 'xlb:lb-a:commands',
    enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, autoResubscribe: false,
    connectTimeout: DEFAULT_TUNING.connectTimeoutMs, socketTimeout: DEFAULT_TUNING.replyTimeoutMs,
  });
  t.false('tls' in o);
  t.false('sentinels' in o);
  t.is(o.Connector, GuardedStandaloneConnector);
});

test('defaults of a bare URL: port 6379, database 0, no password', (t) => {
  const o = plain(redisOptions({ url: 'redis://localhost', keyPrefix: 'xlb' }, {}, 'commands', 'n'));
  t.like(o, { host: 'localhost', port: 6379, db: 0 });
  t.false('password' in o);
  t.false('username' in o);
  t.like(redisOptions({ url: 'redis://[::1]:7000', keyPrefix: 'xlb' }, {}, 'commands', 'n'), { host: '::1', port: 7000 });
});

test('rediss:// is TLS, verified against the CA file when there is one; names go in SNI, addresses do not', (t) => {
  const ca = Buffer.from(PEM);
  t.deepEqual(redisOptions({ url: 'rediss://10.0.0.5:6380/0', keyPrefix: 'x' }, { ca }, 'commands', 'n').tls, { ca });
  t.deepEqual(redisOptions({ url: 'rediss://redis.example:6380', keyPrefix: 'x' }, {}, 'commands', 'n').tls,
    { servername: 'redis.example' });
});

test('a password from password_file wins over one in the URL', (t) => {
  const o = redisOptions({ url: 'redis://:inurl@h:1/0', keyPrefix: 'x', passwordFile: '/f' }, { password: 'infile' },
    'commands', 'n');
  t.is(o.password, 'infile');
});

test('the follow connection waits a whole block longer for its reply', (t) => {
  const config: RedisConfig = { url: 'redis://h', keyPrefix: 'x' };
  const tuning = { ...DEFAULT_TUNING, blockMs: 7000, replyTimeoutMs: 1000 };
  t.is(redisOptions(config, {}, 'follow', 'n', tuning).socketTimeout, 8000);
  t.is(redisOptions(config, {}, 'commands', 'n', tuning).socketTimeout, 1000);
  t.is(redisOptions(config, {}, 'nudge', 'n', tuning).connectionName, 'xlb:n:nudge');
});

test('Sentinel: the master of a named group, TLS to Sentinels and servers alike, both passwords', (t) => {
  const config: RedisSentinelConfig = {
    sentinels: [{ host: '10.0.0.5', port: 26379 }, { host: '10.0.0.6', port: 26380 }], name: 'edge', db: 1, tls: true,
    keyPrefix: 'x', username: 'xlb',
  };
  const ca = Buffer.from(PEM);
  const o = redisOptions(config, { password: 'p', sentinelPassword: 'sp', ca }, 'follow', 'n');
  t.like(o, {
    sentinels: [{ host: '10.0.0.5', port: 26379 }, { host: '10.0.0.6', port: 26380 }], name: 'edge', role: 'master',
    db: 1, username: 'xlb', password: 'p', sentinelPassword: 'sp', enableTLSForSentinelMode: true, failoverDetector: true,
    enableOfflineQueue: false, maxRetriesPerRequest: 0,
  });
  t.deepEqual(o.tls, { ca });
  t.deepEqual(o.sentinelTLS, { ca });
  t.is(o.Connector, GuardedSentinelConnector);
  const bare = plain(redisOptions({ ...config, tls: false }, {}, 'commands', 'n'));
  t.false('tls' in bare);
  t.false('sentinelTLS' in bare);
  t.false('password' in bare);
  t.false('host' in bare);
});

test('reconnects back off exponentially up to the cap', (t) => {
  const retry = { minMs: 100, maxMs: 2000 };
  t.deepEqual([1, 2, 3, 4, 5, 6, 50, 5000].map((n) => backoff(n, retry)), [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  const o = redisOptions({ url: 'redis://h', keyPrefix: 'x' }, {}, 'commands', 'n', { ...DEFAULT_TUNING, retry });
  t.is((o.retryStrategy as (n: number) => number)(3), 400);
  t.true((o.reconnectOnError as (e: Error) => boolean)(new Error('READONLY You can\'t write against a read only replica.')));
  t.false((o.reconnectOnError as (e: Error) => boolean)(new Error('WRONGTYPE Operation against a key')));
});

test('the endpoint as logs and status show it never has a password', (t) => {
  t.is(describeEndpoint({ url: 'rediss://user:pw@10.0.0.5:6380/3', keyPrefix: 'x' }), 'rediss://10.0.0.5:6380/3');
  t.is(describeEndpoint({ url: 'redis://:pw@[::1]', keyPrefix: 'x' }), 'redis://[::1]:6379/0');
  t.is(describeEndpoint({ sentinels: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }], name: 'm', db: 0, tls: false,
    keyPrefix: 'x' }), 'sentinel://a:1,b:2/m/0');
});

test('secrets: one line each, trailing newline dropped; unreadable, empty or non-PEM files are named', (t) => {
  const f = tempFiles(t, { pw: 'hunter2\n', spw: 'sent\r\n', ca: PEM, empty: '\n', notpem: 'hello' });
  const sentinel: RedisSentinelConfig = { sentinels: [{ host: 'a', port: 1 }], name: 'm', db: 0, tls: true, keyPrefix: 'x',
    passwordFile: f.pw, sentinelPasswordFile: f.spw, caFile: f.ca };
  t.deepEqual(readSecrets(sentinel), { password: 'hunter2', sentinelPassword: 'sent', ca: Buffer.from(PEM) });
  t.deepEqual(readSecrets({ url: 'redis://h', keyPrefix: 'x' }), {});
  const cases: [Partial<RedisConfig>, RegExp][] = [
    [{ passwordFile: f.empty }, /the Redis password file is empty/],
    [{ passwordFile: '/nonexistent/pw' }, /\/nonexistent\/pw: cannot read the Redis password: ENOENT/],
    [{ caFile: f.notpem }, /holds no PEM certificate/],
  ];
  for (const [extra, message] of cases) {
    const err = t.throws(() => readSecrets({ url: 'redis://h', keyPrefix: 'x', ...extra } as RedisConfig),
      { instanceOf: ClusterError });
    t.is(err?.code, 'XLB_REDIS_SETUP');
    t.regex(err?.message ?? '', message);
  }
});

test('a second error on one socket is handled (ioredis alone listens once, and the process would die)', async (t) => {
  // A peer that accepts and says nothing: the client's socket exists and stays open.
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const errorTwice = async (options: RedisOptions): Promise<void> => {
    const redis = new Redis({ ...options, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      const socket = await new Promise<Socket>((resolve) => redis.once('connect', () =>
        resolve((redis as unknown as { stream: Socket }).stream)));
      socket.emit('error', new Error('first'));
      socket.emit('error', new Error('second'));
    } finally {
      redis.disconnect();
    }
  };
  const guarded = redisOptions({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'x' }, {}, 'commands', 'n');
  await t.notThrowsAsync(errorTwice(guarded));
  await t.throwsAsync(errorTwice({ ...guarded, Connector: undefined }), { message: 'second' }, 'ioredis alone');
});
