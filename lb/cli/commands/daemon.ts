// `lbctl daemon -c FILE [--detach-on-exit]`: the declaration; the handler is in daemon.handler.ts.
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from './global.js';

export interface DaemonArgs extends GlobalArgs {
  config: string;
  'detach-on-exit': boolean;
}

export const daemonCommand: CommandModule<GlobalArgs, DaemonArgs> = {
  command: 'daemon',
  describe: 'run the node in the foreground (systemd runs this)',
  builder: (y) =>
    y
      .option('detach-on-exit', {
        type: 'boolean',
        default: false,
        describe: 'remove the program from the interfaces when the daemon stops (by default it keeps forwarding ' +
          'with the pinned maps until the next daemon adopts them)',
      })
      .option('config', {
        alias: 'c',
        type: 'string',
        requiresArg: true,
        demandOption: 'the daemon needs its config file: lbctl daemon -c FILE',
        describe: 'the node\'s config file',
      })
      .example('$0 daemon -c /etc/xlb/xlb.yaml', 'run the node described by /etc/xlb/xlb.yaml')
      .example('$0 daemon -c xlb.yaml --detach-on-exit', 'run it, and detach XDP when it stops'),
  handler: async (args) => (await import('./daemon.handler.js')).daemon(args),
};
