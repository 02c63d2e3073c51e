// `lbctl events [--follow] [--json]`: the declaration; the handler is in events.handler.ts.
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from './global.js';

export interface EventsArgs extends GlobalArgs {
  follow: boolean;
  json: boolean;
}

export const eventsCommand: CommandModule<GlobalArgs, EventsArgs> = {
  command: 'events',
  describe: 'flow and drop events from the data plane',
  builder: (y) =>
    y
      .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing new events until Ctrl-C' })
      .option('json', { type: 'boolean', default: false, describe: 'one Event object of the control API a line (NDJSON)' })
      .example('$0 events', 'the recent events')
      .example('$0 events --follow --json | jq -c \'select(.kind == "drop")\'', 'drops as they happen'),
  handler: async (args) => (await import('./events.handler.js')).events(args),
};
