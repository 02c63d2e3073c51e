// Runs every backend's health probe on its interval and reports up/down transitions. The probe, the clock and the
// timers are injected, so the scheduling is tested without sockets or real time. One timer serves every target: it is
// armed for the earliest due (see due-queue.ts), so thousands of targets cost no timer each.
import type { Logger } from 'pino';
import type { HealthCheck } from '../../config/pool.js';
import { fnv1a32 } from '../plan/maglev.js';
import { healthCheckProblems } from '../../config/health.js';
import { formatProblem } from '../../config/problem.js';
import { DueQueue } from './due-queue.js';
import { HealthCheckError, portOf, probe as defaultProbe, type Probe, type ProbeResult } from './probes.js';
import { HealthStateMachine, type HealthState, type Transition } from './state.js';

export interface Target {
  /** Unique among the targets, stable across pool changes, e.g. "web>198.18.1.11:8080" (see backendId()). */
  id: string;
  service: string;
  address: string;
  /** The backend's resolved port; a tcp/http check without its own `port` probes this one. */
  port?: number;
  check: HealthCheck;
}

export interface HealthCheckerOptions {
  /** Called for each transition, after it is counted and logged; `detail` is the probe result that caused it. */
  onChange: (id: string, up: boolean, detail: string) => void;
  /** The node's logger: the checker logs through a child of it with `module: 'health'`. */
  logger: Logger;
  /** @default probe from ./probes.js */
  probe?: Probe;
  /** Milliseconds; only differences are used (scheduling) and the values shown by status(). @default Date.now */
  now?: () => number;
  /** @default setTimeout */
  setTimer?: (fn: () => void, ms: number) => unknown;
  /** @default clearTimeout */
  clearTimer?: (handle: unknown) => void;
}

export interface TargetStatus {
  service: string;
  up: boolean;
  /** The last probe's detail ("HTTP 200", "timeout after 500ms", ...), or why there is none yet. */
  detail: string;
  /** now() when the last probe finished; undefined until one has. */
  checkedAt: number | undefined;
  /** now() at the last transition; undefined if there was none. */
  since: number | undefined;
}

const DEFAULTS = {
  probe: defaultProbe,
  now: Date.now,
  setTimer: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clearTimer: (handle: unknown): void => clearTimeout(handle as NodeJS.Timeout),
} satisfies Partial<HealthCheckerOptions>;

/** A probe later than this share of its interval waits for its next turn (see HealthChecker). */
const LATE_SHARE = 10;
const NOT_PROBED = 'not probed yet';
const NOT_CHECKED = 'no health check';

interface Entry {
  target: Target;
  machine: HealthStateMachine;
  detail: string;
  checkedAt: number | undefined;
  since: number | undefined;
  /** Aborted when the entry is retired: every probe of the entry gets its signal, so one in flight then ends. */
  readonly controller: AbortController;
  /** Replaced or stopped: not probed again, and a result that comes back after is dropped. */
  retired: boolean;
}

/** A stable spread of first probes over the interval: FNV-1a of the id, as Maglev hashes backend names. */
function spread(id: string, intervalMs: number): number {
  return fnv1a32(Buffer.from(id)) % intervalMs;
}

/**
 * Throws unless the target's check is one config check accepts (config/health.ts) and, for tcp/http, has a port to
 * probe. A `none` check is never run, so nothing of it is judged.
 */
function validate(target: Target): void {
  const { check } = target;
  if (check.type === 'none') return;
  const what = `health check of ${target.id}`;
  const problems = healthCheckProblems(check);
  if (problems.length > 0) {
    throw new HealthCheckError('XLB_HEALTH_BAD_CHECK', `${what}: ${problems.map(formatProblem).join('; ')}`);
  }
  if (check.type === 'tcp' || check.type === 'http') portOf(check, target.port, what);
}

/** Same probe, same thresholds: the entry, its counters and its schedule can stay. */
function sameProbe(a: Target, b: Target): boolean {
  const x = a.check;
  const y = b.check;
  return (
    a.address === b.address && a.port === b.port && x.type === y.type && x.port === y.port && x.path === y.path &&
    x.intervalMs === y.intervalMs && x.timeoutMs === y.timeoutMs && x.rise === y.rise && x.fall === y.fall
  );
}

/**
 * Probes each target every `check.intervalMs`. Probes of one target never overlap: the next starts one interval after
 * the previous one started, or as soon as it finished if it took longer. First probes are spread over the interval by
 * a hash of the id, so many backends are not probed in one burst, and they stay spread: when the checker falls behind
 * (the event loop was busy) by more than a tenth of a target's interval, that target's probe waits for its next turn,
 * one interval on, instead of joining a burst of every overdue probe at once. `none` targets are never probed and
 * always up.
 *
 * Targets start up (see state.ts), so a backend that dies is out at most `fall` intervals after its first failed probe,
 * which comes within one interval of its death (with timeout <= interval).
 */
export class HealthChecker {
  readonly #probe: Probe;
  readonly #now: () => number;
  readonly #setTimer: (fn: () => void, ms: number) => unknown;
  readonly #clearTimer: (handle: unknown) => void;
  readonly #log: Logger;
  readonly #onChange: (id: string, up: boolean, detail: string) => void;
  readonly #entries = new Map<string, Entry>();
  /** Entries waiting for their next probe; a retired one is dropped when it comes up. */
  readonly #queue = new DueQueue<Entry>();
  /** The one timer, armed for #timerAt: the earliest due of the queue. */
  #timer: unknown;
  #timerAt: number | undefined;
  #transitions = 0;
  #stopped = false;

  constructor(options: HealthCheckerOptions) {
    this.#probe = options.probe ?? DEFAULTS.probe;
    this.#now = options.now ?? DEFAULTS.now;
    this.#setTimer = options.setTimer ?? DEFAULTS.setTimer;
    this.#clearTimer = options.clearTimer ?? DEFAULTS.clearTimer;
    this.#log = options.logger.child({ module: 'health' });
    this.#onChange = options.onChange;
  }

  /**
   * Makes `targets` the set probed. A target whose id, address, port and check are unchanged keeps its verdict,
   * counters and schedule. One whose check (or address) changed keeps its verdict with fresh counters and a new
   * schedule; switching to `none` brings it up. Removed targets stop being probed; a probe in flight is aborted and its
   * result dropped. Validates everything before changing anything.
   * @throws HealthCheckError (XLB_HEALTH_DUPLICATE_TARGET, XLB_HEALTH_BAD_CHECK, XLB_HEALTH_NO_PORT); nothing changed.
   */
  setTargets(targets: readonly Target[]): void {
    if (this.#stopped) throw new Error('HealthChecker.setTargets() called after stop()');
    const wanted = new Map<string, Target>();
    for (const target of targets) {
      if (wanted.has(target.id)) {
        throw new HealthCheckError('XLB_HEALTH_DUPLICATE_TARGET', `health check target ${target.id} is given twice`);
      }
      validate(target);
      wanted.set(target.id, { ...target, check: { ...target.check } });
    }

    for (const [id, entry] of this.#entries) {
      if (wanted.has(id)) continue;
      this.#retire(entry);
      this.#entries.delete(id);
      this.#log.debug({ service: entry.target.service, backend: id }, 'health check target removed');
    }

    for (const [id, target] of wanted) {
      const old = this.#entries.get(id);
      if (old !== undefined && sameProbe(old.target, target)) {
        old.target = target; // e.g. a renamed service: nothing to do with probing
        continue;
      }
      if (old !== undefined) this.#retire(old);
      const carried: HealthState = old?.machine.state ?? 'up';
      const none = target.check.type === 'none';
      const entry: Entry = {
        target,
        machine: none
          ? new HealthStateMachine({ rise: 1, fall: 1 }, 'up')
          : new HealthStateMachine(target.check, carried),
        detail: none ? NOT_CHECKED : old?.detail ?? NOT_PROBED,
        checkedAt: old?.checkedAt,
        since: old?.since,
        controller: new AbortController(),
        retired: false,
      };
      this.#entries.set(id, entry);
      if (none) {
        if (carried === 'down') this.#transition(entry, { from: 'down', to: 'up', after: 0 }, NOT_CHECKED);
        continue;
      }
      this.#schedule(entry, spread(id, target.check.intervalMs));
    }
  }

  /** The verdict for `id`; true for ids it does not know (no check, nothing to hold against the backend). */
  isUp(id: string): boolean {
    return this.#entries.get(id)?.machine.up ?? true;
  }

  /** Transitions so far, for metrics. */
  transitions(): number {
    return this.#transitions;
  }

  status(id: string): TargetStatus | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    return {
      service: entry.target.service,
      up: entry.machine.up,
      detail: entry.detail,
      checkedAt: entry.checkedAt,
      since: entry.since,
    };
  }

  /** Stops every timer and aborts probes in flight; final: the checker forgets its targets. */
  stop(): void {
    this.#stopped = true;
    for (const entry of this.#entries.values()) this.#retire(entry);
    this.#entries.clear();
    this.#queue.clear();
    this.#arm();
  }

  #retire(entry: Entry): void {
    entry.retired = true;
    entry.controller.abort();
  }

  #schedule(entry: Entry, delayMs: number): void {
    this.#queue.push(entry, this.#now() + delayMs);
    this.#arm();
  }

  /** Arms the one timer for the earliest due, unless it is armed for that or earlier; clears it when none is due. */
  #arm(): void {
    const next = this.#queue.peekDue();
    if (this.#timer !== undefined && next !== undefined && this.#timerAt! <= next) return;
    if (this.#timer !== undefined) this.#clearTimer(this.#timer);
    this.#timer = undefined;
    this.#timerAt = next;
    if (next === undefined) return;
    this.#timer = this.#setTimer(() => this.#fire(), Math.max(0, next - this.#now()));
  }

  /** Starts the probe of every entry due by now (or moves it to its next turn: see the class), then arms the timer. */
  #fire(): void {
    this.#timer = undefined;
    const now = this.#now();
    const late: [Entry, number][] = [];
    for (let due = this.#queue.peekDue(); due !== undefined && due <= now; due = this.#queue.peekDue()) {
      const entry = this.#queue.pop()!;
      if (entry.retired) continue;
      const interval = entry.target.check.intervalMs;
      if (now - due > interval / LATE_SHARE) late.push([entry, due + Math.ceil((now - due) / interval) * interval]);
      else void this.#run(entry);
    }
    for (const [entry, turn] of late) this.#queue.push(entry, turn);
    this.#arm();
  }

  async #run(entry: Entry): Promise<void> {
    const { target } = entry;
    const started = this.#now();
    let result: ProbeResult;
    try {
      result = await this.#probe(target.check, target.address, target.port, entry.controller.signal);
    } catch (err) {
      // A check that cannot run (validated in setTargets, so a bug): count it as a failure and say so loudly.
      this.#log.error({ err, service: target.service, backend: target.id }, 'health probe could not run');
      result = { ok: false, detail: `probe error: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (entry.retired) return;

    const finished = this.#now();
    entry.detail = result.detail;
    entry.checkedAt = finished;
    const transition = entry.machine.record(result.ok);
    if (transition !== undefined) this.#transition(entry, transition, result.detail);
    else if (!result.ok) {
      this.#log.debug({ service: target.service, backend: target.id, detail: result.detail }, 'health probe failed');
    }
    // A clock that went backwards must not push the next probe beyond one interval.
    const interval = target.check.intervalMs;
    this.#schedule(entry, Math.min(interval, Math.max(0, started + interval - finished)));
  }

  #transition(entry: Entry, transition: Transition, detail: string): void {
    const { target } = entry;
    this.#transitions++;
    entry.since = this.#now();
    const fields = { service: target.service, backend: target.id, from: transition.from, to: transition.to, detail };
    if (transition.to === 'down') this.#log.warn(fields, `backend ${target.id} is down`);
    else this.#log.info(fields, `backend ${target.id} is up`);
    try {
      this.#onChange(target.id, transition.to === 'up', detail);
    } catch (err) {
      this.#log.error({ err, service: target.service, backend: target.id }, 'health change handler failed');
    }
  }
}
