// `lbctl ha status [--json]` and `lbctl ha switchover`: the declarations; the handlers are in ha.handler.ts.
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from './global.js';

export interface HaArgs extends GlobalArgs {
  json: boolean;
}

const statusCommand: CommandModule<GlobalArgs, HaArgs> = {
  command: 'status',
  describe: 'the pair: role, lease holder and epoch, the peer\'s heartbeats, both digests, the last transition',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print the HaStatus object of the control API' })
      .example('$0 ha status', 'this node and its peer'),
  handler: async (args) => (await import('./ha.handler.js')).haStatus(args),
};

const switchoverCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'switchover',
  describe: 'hand the VIPs to the peer on purpose (run on the active node; the peer must be heard, serve and match)',
  builder: (y) => y.example('$0 ha switchover', 'before maintenance of the active node'),
  handler: async (args) => (await import('./ha.handler.js')).switchover(args),
};

export const haCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'ha',
  describe: 'an HA pair: its status, or a switchover',
  builder: (y) => y.command(statusCommand).command(switchoverCommand).demandCommand(1, 'name an ha verb: status or switchover'),
  handler: () => undefined,
};
