// `lbctl detach`: the declaration; the handler is in detach.handler.ts.
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from './global.js';

export const detachCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'detach',
  describe: 'remove the program from the interfaces and the pins; without a daemon, those of the -c config',
  builder: (y) => y.example('$0 detach', 'stop load balancing on this node'),
  handler: async (args) => (await import('./detach.handler.js')).detach(args),
};
