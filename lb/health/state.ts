// One backend's health verdict from consecutive probe results: pure, no timers, no I/O.
//
// A backend starts `up`. That is on purpose: when the daemon restarts (or a backend is added) the data plane keeps
// sending it flows until `fall` consecutive probes have failed, instead of taking every healthy backend out until
// `rise` probes have passed. A backend that is really dead is taken out within `fall` intervals of its first probe.

export type HealthState = 'up' | 'down';

/** A change of verdict, returned by `record()` the moment it happens. */
export interface Transition {
  from: HealthState;
  to: HealthState;
  /** The consecutive results that caused it: `rise` successes or `fall` failures. */
  after: number;
}

export interface HealthThresholds {
  /** Consecutive successes that bring a down backend up. */
  rise: number;
  /** Consecutive failures that take an up backend down. */
  fall: number;
}

function checkThreshold(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`health check ${name} must be an integer of at least 1, got ${value}`);
  }
}

/**
 * The rise/fall state machine. While up, it counts consecutive failures (a success resets the count) and goes down at
 * `fall`; while down, it counts consecutive successes (a failure resets the count) and comes up at `rise`.
 */
export class HealthStateMachine {
  readonly rise: number;
  readonly fall: number;
  #state: HealthState;
  /** Consecutive results against the current state: failures while up, successes while down. */
  #streak = 0;

  /**
   * @param initial where to start; `up` by default (see the file comment). A checker whose check changed carries the
   *   previous verdict over with fresh counters.
   * @throws RangeError if `rise` or `fall` is not an integer of at least 1.
   */
  constructor({ rise, fall }: HealthThresholds, initial: HealthState = 'up') {
    checkThreshold('rise', rise);
    checkThreshold('fall', fall);
    this.rise = rise;
    this.fall = fall;
    this.#state = initial;
  }

  get state(): HealthState {
    return this.#state;
  }

  get up(): boolean {
    return this.#state === 'up';
  }

  /** Consecutive results pointing away from the current state so far (failures while up, successes while down). */
  get streak(): number {
    return this.#streak;
  }

  /** Feeds one probe result; returns the transition it caused, if any. */
  record(ok: boolean): Transition | undefined {
    const against = this.#state === 'up' ? !ok : ok;
    if (!against) {
      this.#streak = 0;
      return undefined;
    }
    this.#streak++;
    const needed = this.#state === 'up' ? this.fall : this.rise;
    if (this.#streak < needed) return undefined;
    const from = this.#state;
    this.#state = from === 'up' ? 'down' : 'up';
    this.#streak = 0;
    return { from, to: this.#state, after: needed };
  }
}
