// `lbctl deny add|remove CIDR` and `lbctl deny list [--json]`: the declarations; the handlers are in deny.handler.ts.
import type { CommandModule } from 'yargs';
import { parseCidrArg } from './args.js';
import type { GlobalArgs } from './global.js';

export interface DenyChangeArgs extends GlobalArgs {
  cidr: string;
}

export interface DenyListArgs extends GlobalArgs {
  json: boolean;
}

const cidrPositional = {
  type: 'string',
  demandOption: true,
  describe: 'an IPv4 network, e.g. 203.0.113.0/24 (a bare address means /32)',
  coerce: parseCidrArg,
} as const;

const addCommand: CommandModule<GlobalArgs, DenyChangeArgs> = {
  command: 'add <cidr>',
  describe: 'drop packets from CIDR to every VIP, at the NIC',
  builder: (y) => y.positional('cidr', cidrPositional).example('$0 deny add 203.0.113.0/24', 'drop a network')
    .example('$0 deny add 198.51.100.7', 'drop one address (198.51.100.7/32)'),
  handler: async (args) => (await import('./deny.handler.js')).change('add', args),
};

const removeCommand: CommandModule<GlobalArgs, DenyChangeArgs> = {
  command: 'remove <cidr>',
  describe: 'stop dropping packets from CIDR',
  builder: (y) => y.positional('cidr', cidrPositional).example('$0 deny remove 203.0.113.0/24', 'let it in again'),
  handler: async (args) => (await import('./deny.handler.js')).change('remove', args),
};

const listCommand: CommandModule<GlobalArgs, DenyListArgs> = {
  command: 'list',
  describe: 'the denied networks, one a line',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print the DenyList object of the control API' })
      .example('$0 deny list --json', 'the DenyList object'),
  handler: async (args) => (await import('./deny.handler.js')).list(args),
};

export const denyCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'deny',
  describe: 'the sources dropped for every VIP: add, remove, list',
  builder: (y) =>
    y.command(addCommand).command(removeCommand).command(listCommand)
      .demandCommand(1, 'name a deny verb: add, remove or list'),
  handler: () => undefined,
};
