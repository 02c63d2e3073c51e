// `lbctl events`: GET /events[?follow=1], printed line by line as the daemon sends them.
import { renderEvent, writeJsonLine, writeOut } from '../output.js';
import type { EventsArgs } from './events.js';
import { clientFor } from './global.js';

export async function events(args: EventsArgs): Promise<void> {
  const client = await clientFor(args);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  if (args.follow) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    await client.events(args.follow, (e) => (args.json ? writeJsonLine(e) : writeOut([renderEvent(e)])), stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
