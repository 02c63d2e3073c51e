// `lbctl daemon -c FILE [--detach-on-exit] [--force]`: the declaration; the handler is in daemon.handler.ts.
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from './global.js';

export interface DaemonArgs extends GlobalArgs {
  config: string;
  'detach-on-exit': boolean;
  force: boolean;
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
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'replace an XDP program that xlb did not put on an interface (by default the daemon refuses to ' +
          'start and names it); the replaced program does not come back when xlb stops',
      })
      .option('config', {
        alias: 'c',
        type: 'string',
        requiresArg: true,
        demandOption: 'the daemon needs its config file: lbctl daemon -c FILE',
        describe: 'the node\'s config file',
      })
      .example('$0 daemon -c /etc/xlb/xlb.yaml', 'run the node described by /etc/xlb/xlb.yaml')
      .example('$0 daemon -c xlb.yaml --detach-on-exit', 'run it, and detach XDP when it stops')
      .example('$0 daemon -c xlb.yaml --force', 'run it even where another tool\'s XDP program is attached'),
  handler: async (args) => (await import('./daemon.handler.js')).daemon(args),
};
