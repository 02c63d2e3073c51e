// The deployment files (README "Deploying"): docker-compose.yml with the Dockerfile and config/compose/, and the systemd
// unit scripts/xlb.service. No Docker engine or systemd runs here, so their structure is checked, and every node config
// they name passes the check `lbctl config check` makes.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseConfig, readConfigText } from '../config/load.js';
import { formatProblem } from '../config/problem.js';
import type { Config } from '../config/types.js';
import { run } from './support/daemon.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const repo = (path: string): string => join(ROOT, path);
const LBCTL = repo('dist/lb/cli/lbctl.js');
const NODES = ['xlb-a', 'xlb-b'] as const;

type Obj = Record<string, unknown>;

interface Mount {
  type: string;
  source: string;
  target: string;
  read_only?: boolean;
  bind?: { propagation?: string; create_host_path?: boolean };
}

interface Service {
  build?: string;
  image?: string;
  network_mode?: string;
  privileged?: boolean;
  cap_add?: string[];
  command?: string[];
  volumes?: Mount[];
  secrets?: string[];
  ulimits?: { memlock?: { soft: number; hard: number } };
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

interface Compose {
  services: Record<string, Service>;
  secrets?: Record<string, { file?: string }>;
  volumes?: Obj;
}

/** docker-compose.yml as Compose reads it: `<<` merges the node template in. */
function compose(): Compose {
  return parse(readFileSync(repo('docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
}

/** A node's config as the container sees it: the file mounted at the path its `daemon -c` names. */
function nodeConfigFile(s: Service): { host: string; target: string } {
  const c = s.command ?? [];
  const target = c[0] === 'daemon' && c[1] === '-c' ? c[2] : undefined;
  const mount = s.volumes?.find((v) => v.target === target);
  if (!target || !mount) throw new Error(`command ${JSON.stringify(c)} names no mounted config`);
  return { host: repo(normalize(mount.source)), target };
}

/** What `lbctl config check` does with a file (lb/cli/commands/config.handler.ts): the config, or its problems. */
function checked(file: string): Config {
  const { config, problems } = parseConfig(readConfigText(file));
  if (!config) throw new Error(`${file}: ${problems.map(formatProblem).join('; ')}`);
  return config;
}

test('docker-compose.yml: Redis and two xlb nodes, all on the host network', (t) => {
  const c = compose();
  t.deepEqual(Object.keys(c.services).sort(), ['redis', ...NODES]);
  for (const [name, s] of Object.entries(c.services)) t.is(s.network_mode, 'host', `${name} on the host's network`);
  for (const name of NODES) {
    const s = c.services[name]!;
    t.is(s.build, '.', `${name} is built from the Dockerfile here`);
    t.deepEqual(s.depends_on, { redis: { condition: 'service_healthy' } });
  }
  t.true(existsSync(repo('Dockerfile')));
  t.regex(c.services.redis!.image ?? '', /^redis:/);
  t.truthy(c.services.redis!.healthcheck, 'the nodes wait for a Redis that answers');
});

test('docker-compose.yml: each node has what XDP needs (capabilities, memlock, bpffs shared, BTF, /run/xlb)', (t) => {
  const c = compose();
  for (const name of NODES) {
    const s = c.services[name]!;
    if (s.privileged !== true) {
      for (const cap of ['BPF', 'NET_ADMIN', 'SYS_ADMIN']) t.true(s.cap_add?.includes(cap), `${name} has CAP_${cap}`);
    }
    t.deepEqual(s.ulimits?.memlock, { soft: -1, hard: -1 }, `${name}: maps are locked memory`);
    const at = (target: string) => s.volumes?.find((v) => v.target === target);
    const bpffs = at('/sys/fs/bpf');
    t.like(bpffs, { type: 'bind', source: '/sys/fs/bpf' }, `${name} pins on the host's BPF filesystem`);
    t.regex(bpffs?.bind?.propagation ?? '', /^r?shared$/, `${name}: pins made in the container are the host's`);
    t.not(bpffs?.read_only, true);
    t.like(at('/sys/kernel/btf'), { type: 'bind', source: '/sys/kernel/btf', read_only: true }, `${name} reads BTF`);
    t.like(at('/run/xlb'), { type: 'bind', source: '/run/xlb' }, `${name}'s socket where lbctl on the host finds it`);
  }
});

test('docker-compose.yml: each node runs `lbctl daemon -c` on its own config, and the configs pass `lbctl config check`', (t) => {
  const c = compose();
  const entry = readFileSync(repo('Dockerfile'), 'utf8').match(/^ENTRYPOINT \["([^"]+)"\]/m)?.[1];
  t.is(entry, '/opt/xlb/dist/lb/cli/lbctl.js', 'the image runs lbctl as an executable (its first line sets the heap flags)');
  t.regex(readFileSync(repo('lb/cli/lbctl.ts'), 'utf8').split('\n')[0]!, /^#!\/usr\/bin\/env -S node --max-semi-space-size=/);
  const redisArgs = c.services.redis!.command ?? [];
  const arg = (flag: string) => redisArgs[redisArgs.indexOf(flag) + 1];
  const configs = NODES.map((name) => {
    const s = c.services[name]!;
    const file = nodeConfigFile(s);
    t.true(file.host.startsWith(repo('config/compose/')), `${name}'s config is in config/compose/`);
    t.true(existsSync(file.host), `${file.host} exists`);
    const mount = s.volumes!.find((v) => v.target === file.target)!;
    t.true(mount.read_only, `${name}'s config is mounted read-only`);
    const config = checked(file.host);
    t.truthy(config.ha, `${name} is one of a pair`);
    t.is(config.ha?.nodeId, name);
    // The Redis of the compose file: on the host's network, where it binds.
    t.is(config.redis && 'url' in config.redis ? config.redis.url : undefined, `redis://${arg('--bind')}:${arg('--port')}/0`);
    // The key: the compose secret, mounted where Compose mounts secrets.
    t.deepEqual(s.secrets, ['ha_key']);
    t.is(config.ha?.keyFile, '/run/secrets/ha_key');
    t.true(config.node.controlSocket.startsWith('/run/xlb/'), 'the socket is in the mounted /run/xlb');
    t.true(config.node.pinPath.startsWith('/sys/fs/bpf/'), 'the pins are on the mounted BPF filesystem');
    t.deepEqual(s.healthcheck?.test, ['CMD', 'node', entry, '--socket', config.node.controlSocket, 'status']);
    return config;
  });
  const [a, b] = configs as [Config, Config];
  t.is(a.ha?.pair, b.ha?.pair, 'one pair');
  t.deepEqual(a.pool, b.pool, 'either node may seed Redis with the pool');
  // Both may run on one host: nothing of theirs on the host may collide.
  t.not(a.node.controlSocket, b.node.controlSocket);
  t.not(a.node.pinPath, b.node.pinPath);
  t.notDeepEqual(a.node.metrics, b.node.metrics);
  t.deepEqual(a.node.interfaces.filter((i) => b.node.interfaces.includes(i)), [], 'each node on its own ports');
});

test('docker-compose.yml: the HA key is a secret made on the host, never in the repository', (t) => {
  const file = compose().secrets?.ha_key?.file;
  t.is(file, './config/compose/ha.key');
  const ignored = readFileSync(repo('.gitignore'), 'utf8').split('\n').map((l) => l.trim());
  t.true(ignored.includes(normalize(file!)), '.gitignore lists it');
  t.regex(readFileSync(repo('docker-compose.yml'), 'utf8'), /head -c 32 \/dev\/urandom > config\/compose\/ha\.key/,
    'the file says how to make it');
});

test('the compose configs pass `lbctl config check` itself', async (t) => {
  for (const name of NODES) {
    const file = `config/compose/${name}.yaml`;
    const r = await run(process.execPath, [LBCTL, 'config', 'check', repo(file)]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /: ok \(1 service, 2 backends\)\n$/);
  }
});

/** systemd unit file: section -> key -> values (a key may repeat). */
function unit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const kv = /^(\w+)=(.*)$/.exec(line);
    if (!kv || !current) throw new Error(`not a unit file line: ${line}`);
    current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
  }
  return sections;
}

test('scripts/xlb.service: runs `lbctl daemon -c` on the file it checks first, with what the daemon needs', (t) => {
  const u = unit(readFileSync(repo('scripts/xlb.service'), 'utf8'));
  t.deepEqual([...u.keys()], ['Unit', 'Service', 'Install']);
  const s = u.get('Service')!;
  const one = (key: string) => {
    const v = s.get(key);
    t.is(v?.length, 1, `one ${key}`);
    return v?.[0] ?? '';
  };
  const start = /^(\/\S+) daemon -c (\/\S+)$/.exec(one('ExecStart'));
  t.truthy(start, 'ExecStart is lbctl daemon -c FILE, both absolute');
  const [, lbctl, file] = start ?? [];
  t.true(isAbsolute(file ?? ''));
  t.is(one('ExecStartPre'), `${lbctl} config check ${file}`, 'a bad config stops the start, not the running node');
  // scripts/setup --install links lbctl there.
  t.is(lbctl, '/usr/local/bin/lbctl');
  t.regex(readFileSync(repo('scripts/setup'), 'utf8'), /ln -sfn "\$PWD\/dist\/lb\/cli\/lbctl\.js" \/usr\/local\/bin\/lbctl/);
  t.is(one('ExecReload'), '/bin/kill -HUP $MAINPID', 'SIGHUP re-reads the file');
  t.is(one('KillSignal'), 'SIGTERM', 'the program stays attached for the next start to adopt');
  t.is(one('LimitMEMLOCK'), 'infinity');
  t.is(one('RuntimeDirectory'), 'xlb', '/run/xlb, where the default control socket is');
  t.is(one('Type'), 'simple', 'lbctl daemon runs in the foreground');
  t.deepEqual(u.get('Install')?.get('WantedBy'), ['multi-user.target']);
});

test('README "Deploying" names the compose file, the unit and the config check', (t) => {
  const readme = readFileSync(repo('README.md'), 'utf8');
  const start = readme.indexOf('\n## Deploying');
  t.not(start, -1, 'README has a "Deploying" section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  for (const s of ['docker-compose.yml', 'config/compose/', 'scripts/xlb.service', 'lbctl config check', 'ha.key']) {
    t.true(section.includes(s), `it mentions ${s}`);
  }
});
