// Edits from the control socket on their way through the daemon's queue, and the outcome of recent ones by request
// id, so a client that gave up waiting can learn whether its change was made (api.ts: "Edits"). Pure; the clock is
// injected.
import type { ApplyResult, DenyList, ErrorBody, RequestOutcome } from './api.js';
import { XlbError } from '../errors.js';

export const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** How many outcomes are remembered, and for how long. */
export const REMEMBERED = 500;
export const REMEMBERED_MS = 10 * 60_000;

type Result = ApplyResult | DenyList;

/** One edit: queued until the daemon begins it, then applied or failed; cancelled only while queued. */
export class Edit {
  state: RequestOutcome['state'] = 'queued';
  result?: Result;
  error?: ErrorBody;
  /** When the outcome became final (for forgetting it). */
  settledAt?: number;

  constructor(readonly id: string | undefined, private readonly now: () => number) {}

  /**
   * Called by the daemon when the edit's turn comes; from then on it cannot be cancelled.
   * @throws XlbError XLB_CANCELLED when it was cancelled while it waited: it must not be applied.
   */
  begin(): void {
    if (this.state === 'cancelled') {
      throw new XlbError('XLB_CANCELLED', `the edit${this.id ? ` ${this.id}` : ''} was cancelled before its turn; nothing changed`);
    }
    this.state = 'applying';
  }

  /** Drops a queued edit; true when it was (or already is) cancelled, false when it has begun. */
  cancel(): boolean {
    if (this.state === 'queued') this.settle('cancelled');
    return this.state === 'cancelled';
  }

  succeed(result: Result): void {
    this.result = result;
    this.settle('applied');
  }

  fail(error: ErrorBody): void {
    if (this.state === 'cancelled') return;
    this.error = error;
    this.settle('failed');
  }

  outcome(): RequestOutcome {
    return {
      id: this.id ?? '',
      state: this.state,
      ...(this.result === undefined ? {} : { result: this.result }),
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }

  private settle(state: 'applied' | 'failed' | 'cancelled'): void {
    this.state = state;
    this.settledAt = this.now();
  }
}

export class RequestLog {
  private readonly byId = new Map<string, Edit>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * A new edit, named by `id` if given.
   * @throws XlbError XLB_BAD_REQUEST for a malformed id, XLB_CANCELLED for an id cancelled before it arrived,
   *   XLB_CONFLICT for an id used before.
   */
  open(id: string | undefined): Edit {
    if (id === undefined) return new Edit(undefined, this.now);
    if (!REQUEST_ID.test(id)) {
      throw new XlbError('XLB_BAD_REQUEST', `x-request-id: ${JSON.stringify(id.slice(0, 80))} is not 1..64 of A-Z a-z 0-9 _ -`);
    }
    this.forget();
    const known = this.byId.get(id);
    if (known?.state === 'cancelled') {
      throw new XlbError('XLB_CANCELLED', `request ${id} was cancelled before it arrived; nothing changed`);
    }
    if (known) throw new XlbError('XLB_CONFLICT', `request id ${id} was used already (it is ${known.state})`);
    const edit = new Edit(id, this.now);
    this.byId.set(id, edit);
    return edit;
  }

  /** The outcome of `id`. @throws XlbError XLB_NOT_FOUND when it is not (or no longer) remembered. */
  get(id: string): RequestOutcome {
    this.forget();
    const edit = this.byId.get(id);
    if (!edit) throw new XlbError('XLB_NOT_FOUND', `no request ${id} (unknown, or older than the ${REMEMBERED} remembered)`);
    return edit.outcome();
  }

  /**
   * Cancels `id` if it has not begun: a queued edit is dropped; an id not seen yet is refused should it arrive later.
   * Returns its outcome after that (cancelled, or where it is: applying, applied, failed).
   */
  cancel(id: string): RequestOutcome {
    if (!REQUEST_ID.test(id)) throw new XlbError('XLB_BAD_REQUEST', `${JSON.stringify(id.slice(0, 80))} is not a request id`);
    this.forget();
    let edit = this.byId.get(id);
    if (!edit) {
      edit = new Edit(id, this.now);
      this.byId.set(id, edit);
    }
    edit.cancel();
    return edit.outcome();
  }

  /** Drops settled outcomes older than REMEMBERED_MS, and the oldest settled ones beyond REMEMBERED. */
  private forget(): void {
    const now = this.now();
    let settled = 0;
    for (const e of this.byId.values()) if (e.settledAt !== undefined) settled++;
    for (const [id, e] of this.byId) {
      if (e.settledAt === undefined) continue;
      if (settled > REMEMBERED || now - e.settledAt > REMEMBERED_MS) {
        this.byId.delete(id);
        settled--;
      }
    }
  }
}
