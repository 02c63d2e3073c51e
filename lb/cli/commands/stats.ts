// `lbctl stats [--json] [--watch [SECONDS]]`: the declaration; the handler is in stats.handler.ts.
import type { CommandModule } from 'yargs';
import { parseWatch } from './args.js';
import type { GlobalArgs } from './global.js';

export interface StatsArgs extends GlobalArgs {
  json?: boolean;
  /** Seconds between redraws; undefined: print once. */
  watch?: number;
}

export const statsCommand: CommandModule<GlobalArgs, StatsArgs> = {
  command: 'stats',
  describe: 'packets, bytes and new flows per service and backend; packets per outcome (drops by reason)',
  builder: (y) =>
    y
      // No default: yargs would count a default false as given and refuse it with --watch.
      .option('json', { type: 'boolean', describe: 'print the Stats object of the control API' })
      .option('watch', {
        type: 'string',
        describe: 'redraw every SECONDS (default 1) with rates per second, until Ctrl-C',
        coerce: parseWatch,
      })
      .conflicts('watch', 'json')
      .example('$0 stats', 'totals since the maps were created')
      .example('$0 stats --watch', 'totals and rates, redrawn every second')
      .example('$0 stats --watch 5', 'the same every 5 seconds'),
  handler: async (args) => (await import('./stats.handler.js')).stats(args),
};
