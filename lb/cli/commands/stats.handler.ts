// `lbctl stats`: GET /stats once, or every --watch seconds with rates from the previous sample.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Stats } from '../../control/api.js';
import type { ControlClient } from '../client.js';
import { clearScreen, renderStats, writeJson, writeOut } from '../output.js';
import { clientFor } from './global.js';
import type { StatsArgs } from './stats.js';

export async function stats(args: StatsArgs): Promise<void> {
  const client = await clientFor(args);
  if (args.watch === undefined) {
    const s = await client.call('GET /stats', undefined);
    if (args.json) writeJson(s);
    else writeOut(renderStats(s));
    return;
  }
  await watch(client, args.watch);
}

/** Redraws until SIGINT or SIGTERM, which end it normally (exit 0). */
async function watch(client: ControlClient, seconds: number): Promise<void> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = process.stdout.isTTY === true;
  let previous: { stats: Stats; at: number } | undefined;
  try {
    while (!stop.signal.aborted) {
      const s = await client.call('GET /stats', undefined);
      const at = performance.now();
      const sample = previous ? { stats: previous.stats, seconds: (at - previous.at) / 1000 } : null;
      const clock = new Date().toTimeString().slice(0, 8);
      const frame = [`xlb stats every ${seconds}s at ${clock} (Ctrl-C to stop)`, '', ...renderStats(s, sample)];
      // On a terminal each frame replaces the last; piped, frames follow each other, a blank line apart.
      if (tty) clearScreen();
      writeOut(tty ? frame : [...frame, '']);
      previous = { stats: s, at };
      await sleep(seconds * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
