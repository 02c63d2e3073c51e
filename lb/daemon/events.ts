// Flow and drop events: a ring-buffer record made the api's Event (named by the plan it happened under), the
// recent ones kept for `lbctl events`, and followers (`--follow`) told of each new one.
import * as layout from '../bpf/layout.js';
import type { Event } from '../control/api.js';
import type { Plan } from '../plan/planner.js';

const PROTOCOL_NAMES = new Map<number, string>(Object.entries(layout.PROTO).map(([name, n]) => [n, name]));

/**
 * The api's Event for a record. `plan` names the service and backend by their ids; `monoToEpochMs` turns the data
 * plane's CLOCK_MONOTONIC into epoch milliseconds. Pure.
 */
export function toEvent(e: layout.Event, plan: Plan | undefined, monoToEpochMs: number): Event {
  const svc = plan?.services.find((s) => s.id === e.service);
  const be = plan?.backends.find((b) => b.index === e.backend);
  const protocol = PROTOCOL_NAMES.get(e.proto) ?? String(e.proto);
  const verdict = layout.OUTCOMES[e.outcome] ?? `outcome ${e.outcome}`;
  const event: Event = {
    time: monoToEpochMs + Number(e.timeNs / 1_000_000n),
    kind: verdict.startsWith('drop_') ? 'drop' : 'flow',
    source: e.src,
    destination: e.dst,
    protocol,
    verdict,
  };
  if (protocol === 'tcp' || protocol === 'udp') {
    event.sport = e.sport;
    event.dport = e.dport;
  }
  if (svc) event.service = svc.name;
  if (be) event.backend = be.value.port ? `${be.value.addr}:${be.value.port}` : be.value.addr;
  return event;
}

/** The last `keep` events and the listeners of new ones; followers' streams are ended by end(). */
export class EventFeed {
  private readonly recentEvents: Event[] = [];
  private readonly listeners = new Set<(e: Event) => void>();
  private readonly followers = new Set<NodeJS.WritableStream>();

  constructor(private readonly keep = 1000) {}

  push(event: Event): void {
    this.recentEvents.push(event);
    if (this.recentEvents.length > this.keep) this.recentEvents.shift();
    for (const l of this.listeners) l(event);
  }

  /** Oldest first. */
  recent(): Event[] {
    return [...this.recentEvents];
  }

  /** Calls `listener` for each new event until the returned function is called; end() ends `stream`. */
  subscribe(listener: (e: Event) => void, stream: NodeJS.WritableStream): () => void {
    this.listeners.add(listener);
    this.followers.add(stream);
    return () => {
      this.listeners.delete(listener);
      this.followers.delete(stream);
    };
  }

  /** Ends every follower's stream (the daemon is stopping). */
  end(): void {
    for (const f of this.followers) f.end();
    this.followers.clear();
    this.listeners.clear();
  }
}
