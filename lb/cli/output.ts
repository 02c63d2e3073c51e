// lbctl's output layer: everything lbctl's verbs print goes through here (the daemon that `lbctl daemon` runs logs on
// its own). Aligned tables and human units for people, the API objects as they are for --json. The render* functions
// are pure (lines in, lines out) and tested as such.
import type {
  BackendStatus, CounterSet, Event, HaStatus, InterfaceStatus, RedisStatus, ServiceStatus, Stats, Status,
} from '../control/api.js';
import { formatEndpoint } from '../../config/values.js';

export function writeOut(lines: string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

export function writeErr(lines: string[]): void {
  if (lines.length > 0) process.stderr.write(`${lines.join('\n')}\n`);
}

/** --json: the API object as it is, two-space indented, one trailing newline. */
export function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A stream of objects (events): one compact JSON object per line (NDJSON), as the daemon sends them. */
export function writeJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Clears the terminal and homes the cursor, so the next lines replace the last frame (stats --watch). */
export function clearScreen(): void {
  process.stdout.write('\x1b[H\x1b[2J');
}

// ---- units -------------------------------------------------------------------------------------------------------

/** 1234567 -> "1,234,567". */
export function formatCount(n: number): string {
  const [int, frac] = String(Math.abs(n)).split('.') as [string, string | undefined];
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${n < 0 ? '-' : ''}${grouped}${frac ? `.${frac}` : ''}`;
}

const SI = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** Bytes in SI units, three significant digits: 999 -> "999 B", 1234 -> "1.23 kB", 56789012 -> "56.8 MB". */
export function formatBytes(n: number): string {
  if (n < 999.5) return `${Math.round(n)} B`;
  let unit = 0;
  let v = n;
  while (v >= 999.5 && unit < SI.length - 1) {
    v /= 1000;
    unit++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${SI[unit]}`;
}

/** A per-second rate: "0", "0.5", "12", "1,234". */
export function formatRate(n: number): string {
  if (n === 0) return '0';
  return n < 10 ? n.toFixed(1) : formatCount(Math.round(n));
}

/** Seconds as the two largest units: 42 -> "42s", 3725 -> "1h 2m", 90061 -> "1d 1h". */
export function formatDuration(seconds: number): string {
  let s = Math.max(0, Math.floor(seconds));
  const parts: [number, string][] = [];
  for (const [size, unit] of [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']] as const) {
    parts.push([Math.floor(s / size), unit]);
    s %= size;
  }
  const first = parts.findIndex(([v]) => v > 0);
  if (first === -1) return '0s';
  return parts.slice(first, first + 2).map(([v, u]) => `${v}${u}`).join(' ');
}

// ---- tables ------------------------------------------------------------------------------------------------------

export type Align = 'left' | 'right';

/**
 * Header and rows padded into columns two spaces apart; `align` per column (default left; numbers read better
 * right-aligned). Trailing spaces are trimmed.
 */
export function table(headers: string[], rows: string[][], align: Align[] = []): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** "key  value" lines with the keys padded to one width. */
export function keyValues(pairs: [string, string][]): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

// ---- status ------------------------------------------------------------------------------------------------------

/** A backend gets traffic only when it is up and its next hop is known. */
function serving(b: BackendStatus): boolean {
  return b.health === 'up' && b.mac !== null;
}

/** "redis://198.18.1.250:6379/0: synced, pool version 7 (checked 0.4s ago)", or what is wrong. */
function renderRedis(r: RedisStatus): string {
  const since = `since ${new Date(r.since).toISOString()}`;
  const pool = `pool version ${r.version}${r.redisVersion !== undefined && r.redisVersion !== r.version ? ` (Redis holds ${r.redisVersion})` : ''}`;
  const age = r.syncAgeMs !== undefined ? `, checked ${formatDuration(r.syncAgeMs / 1000)} ago` : '';
  switch (r.state) {
    case 'synced': return `${r.endpoint}: ${pool}${age}`;
    case 'disconnected': return `${r.endpoint}: unreachable ${since}${r.error ? ` (${r.error})` : ''}; keeping ${pool}`;
    case 'refused': return `${r.endpoint}: refusing ${r.refused?.key ?? 'the pool'} ${since}; keeping ${pool}`;
    default: return `${r.endpoint}: ${r.state} ${since}; ${pool}${age}`;
  }
}

function renderInterface(i: InterfaceStatus): string {
  if (i.state === 'attached') return `${i.name} (ifindex ${i.ifindex}, ${i.mode})`;
  return `${i.name} (${i.state}${i.problem ? `: ${i.problem}` : ''})`;
}

/**
 * The node (role, pid, uptime, maps, interfaces and their XDP mode, a reload under way, deny list), a table of
 * services (UP: backends that get traffic, i.e. up with a next hop), a table of backends, then why each backend that
 * is down or has no next hop gets no traffic.
 */
export function renderStatus(s: Status, now = Date.now()): string[] {
  const interfaces = s.interfaces.map(renderInterface).join(', ');
  const lines = keyValues([
    ['role', s.nodeId ? `${s.role} (node ${s.nodeId})` : s.role],
    ['pid', String(s.pid)],
    ['uptime', formatDuration(s.uptime)],
    ['maps', `${s.pinPath} (${s.adopted ? 'adopted from a previous daemon' : 'created by this daemon'})`],
    ['interfaces', interfaces || 'none'],
    ...(s.reload ? [['reload', `reading and checking ${s.reload.source} for ${formatDuration((now - s.reload.since) / 1000)}`] as [string, string]] : []),
    ...(s.redis ? [['redis', renderRedis(s.redis)] as [string, string]] : []),
    ['deny', s.deny.length ? s.deny.join(', ') : 'none'],
  ]);
  lines.push('');
  if (s.services.length === 0) {
    lines.push('no services');
    return lines;
  }
  lines.push(...table(
    ['SERVICE', 'VIP', 'PROTOCOL', 'PORT', 'SCHEDULER', 'FORWARDING', 'CHECK', 'ALLOW', 'UP'],
    s.services.map((v) => [
      v.name, v.vip, v.protocol, v.port ? String(v.port) : '-', v.scheduler, v.forwarding, v.health,
      v.allow.length ? v.allow.join(',') : 'any', `${v.backends.filter(serving).length}/${v.backends.length}`,
    ]),
    ['left', 'left', 'left', 'right', 'left', 'left', 'left', 'left', 'right'],
  ));
  const backends = s.services.flatMap((v) => v.backends.map((b) => [v, b] as [ServiceStatus, BackendStatus]));
  lines.push('');
  if (backends.length === 0) {
    lines.push('no backends');
    return lines;
  }
  lines.push(...table(
    ['SERVICE', 'BACKEND', 'WEIGHT', 'HEALTH', 'DRAINED', 'MAC'],
    backends.map(([v, b]) => [
      v.name, formatEndpoint(b.address, b.port), String(b.weight), b.health, b.drained ? 'yes' : 'no',
      b.mac ?? 'unresolved',
    ]),
    ['left', 'left', 'right', 'left', 'left', 'left'],
  ));
  const problems = backends.flatMap(([v, b]) => {
    const who = `${v.name} ${formatEndpoint(b.address, b.port)}`;
    return [
      ...(b.health === 'down' ? [`  ${who} is down: ${b.probe}`] : []),
      ...(b.mac === null ? [`  ${who} has no next hop: ${b.unresolved ?? 'not resolved yet'}`] : []),
    ];
  });
  const refused = s.redis?.refused?.problems.map((p) => `  ${s.redis!.refused!.key}: ${p.path ? `${p.path}: ` : ''}${p.message}`) ?? [];
  if (problems.length || refused.length) lines.push('', 'problems', ...refused, ...problems);
  return lines;
}

// ---- ha ----------------------------------------------------------------------------------------------------------

const ms = (n: number) => `${Math.round(n)} ms`;

/** This node and its peer: roles, the lease, heartbeats, digests, the last transition, why a standby is not ready. */
export function renderHaStatus(h: HaStatus): string[] {
  const lease = h.lease ? `${h.lease.nodeId} at epoch ${h.lease.epoch}${Number.isFinite(h.lease.ttlMs) ? `, ${ms(h.lease.ttlMs)} left` : ''}`
    : h.redis ? 'nobody' : 'unknown: Redis unreachable';
  const p = h.peer;
  const peer = p ? `${p.nodeId}: ${p.role} at epoch ${p.epoch}, heartbeat ${ms(p.heartbeatAgeMs)} ago${p.up ? '' : ' (missed)'}` +
    `${p.serveable ? '' : ', cannot serve'}${p.redis ? '' : ', no Redis'}` : 'never heard';
  const t = h.lastTransition;
  const rejected = Object.entries(h.heartbeatsRejected).filter(([r, n]) => r !== 'self' && n > 0).map(([r, n]) => `${r} ${n}`);
  return keyValues([
    ['node', `${h.nodeId} (pair ${h.pair})`],
    ['role', `${h.role} at epoch ${h.epoch}`],
    ['lease', lease],
    ['redis', h.redis ? 'reachable' : 'unreachable'],
    ['serves', h.serveable.ok ? 'yes' : `no: ${h.serveable.why}`],
    ['peer', peer],
    ['digests', `this ${h.digest || '-'}, peer ${p?.digest ?? '-'}${p ? (p.digest === h.digest ? ' (match)' : ' (differ)') : ''}`],
    ['ready', h.ready.ready ? `yes (${h.ready.why})` : `no: ${h.ready.why}`],
    ['last change', t ? `${t.from} -> ${t.to} (${t.reason}) ${formatDuration(t.ageMs / 1000)} ago` : 'none since start'],
    ...(rejected.length ? [['refused', `heartbeats: ${rejected.join(', ')}`] as [string, string]] : []),
  ]);
}

// ---- stats -------------------------------------------------------------------------------------------------------

/** A previous sample for --watch: rates are (now - before) / seconds. */
export interface StatsSample {
  stats: Stats;
  /** Seconds between the two samples. */
  seconds: number;
}

/**
 * Packets, bytes and new flows per service (BACKEND "all") and per backend, then packets and bytes per outcome.
 * Given `previous`, each total is followed by its rate per second ("-" where there is no earlier sample, or the
 * counter went backwards, e.g. the daemon restarted).
 */
export function renderStats(stats: Stats, previous?: StatsSample | null): string[] {
  const withRates = previous !== undefined;
  const before = new Map<string, CounterSet>();
  const beforeOutcome = new Map<string, { packets: number; bytes: number }>();
  if (previous) {
    for (const s of previous.stats.services) {
      before.set(s.name, s);
      for (const b of s.backends) before.set(`${s.name}>${formatEndpoint(b.address, b.port)}`, b);
    }
    for (const [name, o] of Object.entries(previous.stats.outcomes)) beforeOutcome.set(name, o);
  }
  const rate = (now: number, then: number | undefined): string =>
    !previous || then === undefined || now < then || previous.seconds <= 0 ? '-' : formatRate((now - then) / previous.seconds);
  const byteRate = (now: number, then: number | undefined): string =>
    !previous || then === undefined || now < then || previous.seconds <= 0 ? '-' : `${formatBytes((now - then) / previous.seconds)}/s`;

  const counterCells = (c: CounterSet, was: CounterSet | undefined): string[] =>
    withRates
      ? [formatCount(c.packets), rate(c.packets, was?.packets), formatBytes(c.bytes), byteRate(c.bytes, was?.bytes),
        formatCount(c.flowsNew), rate(c.flowsNew, was?.flowsNew)]
      : [formatCount(c.packets), formatBytes(c.bytes), formatCount(c.flowsNew)];

  const rows: string[][] = [];
  for (const s of stats.services) {
    rows.push([s.name, 'all', ...counterCells(s, before.get(s.name))]);
    for (const b of s.backends) {
      const endpoint = formatEndpoint(b.address, b.port);
      rows.push([s.name, endpoint, ...counterCells(b, before.get(`${s.name}>${endpoint}`))]);
    }
  }
  const counterHeaders = withRates
    ? ['PACKETS', 'PKT/S', 'BYTES', 'BYTES/S', 'NEW FLOWS', 'FLOWS/S']
    : ['PACKETS', 'BYTES', 'NEW FLOWS'];
  const lines = rows.length
    ? table(['SERVICE', 'BACKEND', ...counterHeaders], rows, ['left', 'left', ...counterHeaders.map((): Align => 'right')])
    : ['no services'];

  const outcomes = Object.entries(stats.outcomes);
  if (outcomes.length) {
    const outcomeHeaders = withRates ? ['PACKETS', 'PKT/S', 'BYTES', 'BYTES/S'] : ['PACKETS', 'BYTES'];
    lines.push('');
    lines.push(...table(
      ['OUTCOME', ...outcomeHeaders],
      outcomes.map(([name, o]) => {
        const was = beforeOutcome.get(name);
        return withRates
          ? [name, formatCount(o.packets), rate(o.packets, was?.packets), formatBytes(o.bytes), byteRate(o.bytes, was?.bytes)]
          : [name, formatCount(o.packets), formatBytes(o.bytes)];
      }),
      ['left', ...outcomeHeaders.map((): Align => 'right')],
    ));
  }
  return lines;
}

// ---- events ------------------------------------------------------------------------------------------------------

/**
 * One line per event:
 * `2025-01-02T03:04:05.678Z  flow  tx  tcp  203.0.113.5:40000 -> 198.18.0.10:80  web -> 198.18.1.11:8080`
 */
export function renderEvent(e: Event): string {
  const parts = [
    new Date(e.time).toISOString(), e.kind, e.verdict, e.protocol,
    `${formatEndpoint(e.source, e.sport)} -> ${formatEndpoint(e.destination, e.dport)}`,
  ];
  if (e.service || e.backend) parts.push([e.service ?? '?', e.backend].filter(Boolean).join(' -> '));
  return parts.join('  ');
}
