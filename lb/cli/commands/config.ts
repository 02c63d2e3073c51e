// `lbctl config check FILE` and `lbctl config apply FILE`: the declarations; the handlers are in config.handler.ts.
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from './global.js';

export interface ConfigFileArgs extends GlobalArgs {
  file: string;
}

const checkCommand: CommandModule<GlobalArgs, ConfigFileArgs> = {
  command: 'check <file>',
  describe: 'validate FILE here (no daemon needed); print every problem with its path; exit 1 if any',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'a config file (YAML)' })
      .example('$0 config check /etc/xlb/xlb.yaml', 'prints "/etc/xlb/xlb.yaml: ok (2 services, 4 backends)" or its problems'),
  handler: async (args) => (await import('./config.handler.js')).check(args),
};

const applyCommand: CommandModule<GlobalArgs, ConfigFileArgs> = {
  command: 'apply <file>',
  describe: 'make FILE\'s services and deny list the running daemon\'s pool; a file with any problem changes nothing',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'a config file (YAML)' })
      .example('$0 config apply /etc/xlb/xlb.yaml', 'send the file to the daemon, which checks it and applies it'),
  handler: async (args) => (await import('./config.handler.js')).apply(args),
};

export const configCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'config',
  describe: 'check a config file, or apply it to the running daemon',
  builder: (y) => y.command(checkCommand).command(applyCommand).demandCommand(1, 'name a config verb: check or apply'),
  handler: () => undefined,
};
