// The health-check rules, in one place: config check reads a service's `health:` with them; the health checker judges
// the typed checks it is given by the same rules (through healthDocument()), and a probe what it runs with (timeout,
// port, path), so a check the config accepts is one the daemon runs, and only such a check.
import { HEALTH_TYPES, type HealthCheck, type HealthType, type Protocol } from './pool.js';
import { at, type Problem } from './problem.js';
import { given, Reader } from './reader.js';
import { DEFAULTS } from './types.js';
import { formatMs, no, parseDuration, parseHttpPath, parsePort, parseThreshold, type Checked } from './values.js';

const HEALTH_KEYS = ['type', 'port', 'path', 'interval', 'timeout', 'rise', 'fall'] as const;

/** The check a service gets when its `health:` names no type. */
const DEFAULT_HEALTH: Record<Protocol, HealthType> = { icmp: 'icmp', tcp: 'tcp', udp: 'none' };

/**
 * A service's `health:` (absent: the defaults) as a HealthCheck, recording problems under `path`. `protocol` is the
 * service's, undefined when it is unknown or wrong (its defaults and port rules are then left out).
 */
export function readHealth(r: Reader, v: unknown, path: string, protocol: Protocol | undefined): HealthCheck | undefined {
  return r.clean(() => {
    const m = v === undefined || v === null ? {} : r.mapping(v, path, HEALTH_KEYS);
    if (!m) return undefined;
    const type = given(m, 'type') ? r.oneOf(m.type, at(path, 'type'), HEALTH_TYPES) : protocol && DEFAULT_HEALTH[protocol];
    if (type === undefined) return undefined;
    let port: number | undefined;
    if (type === 'tcp' || type === 'http') {
      if (given(m, 'port')) port = r.check(parsePort(m.port), at(path, 'port'));
      else if (protocol === 'udp' || protocol === 'icmp') {
        r.add(at(path, 'port'), `required for ${type} checks on ${protocol} services: their backends have no TCP port`);
      }
    } else if (given(m, 'port')) {
      r.add(at(path, 'port'), `type ${type} has no port`);
    }
    let httpPath: string | undefined;
    if (type === 'http') httpPath = given(m, 'path') ? readHttpPath(r, m.path, at(path, 'path')) : '/';
    else if (given(m, 'path')) r.add(at(path, 'path'), 'only http checks have a path');
    const intervalMs = given(m, 'interval') ? r.duration(m.interval, at(path, 'interval'), 1) : DEFAULTS.health.intervalMs;
    let timeoutMs: number | undefined;
    if (given(m, 'timeout')) {
      timeoutMs = r.duration(m.timeout, at(path, 'timeout'), 1);
      if (timeoutMs !== undefined && intervalMs !== undefined && timeoutMs > intervalMs) {
        r.add(at(path, 'timeout'), `${formatMs(timeoutMs)} is longer than the interval (${formatMs(intervalMs)})`);
      }
    } else {
      // The default, but never longer than an interval the operator shortened.
      timeoutMs = Math.min(DEFAULTS.health.timeoutMs, intervalMs ?? Infinity);
    }
    const rise = given(m, 'rise') ? r.check(parseThreshold(m.rise), at(path, 'rise')) : DEFAULTS.health.rise;
    const fall = given(m, 'fall') ? r.check(parseThreshold(m.fall), at(path, 'fall')) : DEFAULTS.health.fall;
    return {
      type, ...(port !== undefined && { port }), ...(httpPath !== undefined && { path: httpPath }),
      intervalMs: intervalMs!, timeoutMs: timeoutMs!, rise: rise!, fall: fall!,
    };
  });
}

function readHttpPath(r: Reader, v: unknown, path: string): string | undefined {
  const s = r.string(v, path);
  return s === undefined ? undefined : r.check(parseHttpPath(s), path);
}

/** A HealthCheck as the config writes it (durations as text): readHealth() reads it back as the same check. */
export function healthDocument(check: HealthCheck): Record<string, unknown> {
  return {
    type: check.type, port: check.port, path: check.path, interval: formatMs(check.intervalMs),
    timeout: formatMs(check.timeoutMs), rise: check.rise, fall: check.fall,
  };
}

/** Every problem of a typed check, judged as config check judges the `health:` it came from. */
export function healthCheckProblems(check: HealthCheck): Problem[] {
  const r = new Reader();
  readHealth(r, healthDocument(check), '', undefined);
  return r.problems;
}

/** A probe's timeout: a typed check's timeoutMs, judged as the `timeout:` it came from. */
export function probeTimeout(check: HealthCheck): Checked<number> {
  const ms = parseDuration(formatMs(check.timeoutMs));
  return !ms.ok || ms.value >= 1 ? ms : no('the timeout must be more than 0');
}

/** The port a tcp/http probe connects to: the check's own, else the backend's. */
export function probePort(check: HealthCheck, backendPort: number | undefined): Checked<number> {
  const port = check.port ?? backendPort;
  if (port === undefined) return no(`${check.type} checks need a port: set health.port, or give the backend one`);
  return parsePort(port);
}
