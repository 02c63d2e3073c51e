// `lbctl backend add|remove|drain|undrain SERVICE ADDRESS[:PORT] [--weight N]`: the declarations; the handler is in
// backend.handler.ts.
import type { Argv, CommandModule } from 'yargs';
import { WEIGHT_RANGE } from '../../../config/values.js';
import { type Endpoint, parseEndpoint, parseServiceArg, parseWeight } from './args.js';
import type { GlobalArgs } from './global.js';

export type BackendVerb = 'add' | 'remove' | 'drain' | 'undrain';

export interface BackendArgs extends GlobalArgs {
  service: string;
  address: Endpoint;
  /** add only. */
  weight?: number;
}

function withBackendPositionals(y: Argv<GlobalArgs>): Argv<BackendArgs> {
  return y
    .positional('service', { type: 'string', demandOption: true, describe: 'the service\'s name', coerce: parseServiceArg })
    .positional('address', {
      type: 'string',
      demandOption: true,
      describe: 'the backend: ADDRESS[:PORT] (the port defaults to the service\'s)',
      coerce: parseEndpoint,
    });
}

function backendVerb(
  verb: BackendVerb, describe: string, builder: (y: Argv<BackendArgs>) => Argv<BackendArgs>,
): CommandModule<GlobalArgs, BackendArgs> {
  return {
    command: `${verb} <service> <address>`,
    describe,
    builder: (y) => builder(withBackendPositionals(y)),
    handler: async (args) => (await import('./backend.handler.js')).changeBackend(verb, args),
  };
}

const addCommand = backendVerb('add', 'add a backend to a service', (y) =>
  y
    .option('weight', {
      type: 'number',
      requiresArg: true,
      describe: `its weight, ${WEIGHT_RANGE.min}..${WEIGHT_RANGE.max} (default 1)`,
      coerce: parseWeight,
    })
    .example('$0 backend add web 198.18.1.13:8080', 'add a backend on port 8080')
    .example('$0 backend add web 198.18.1.14 --weight 2', 'on the service\'s port, with twice the share'));

const removeCommand = backendVerb('remove', 'remove a backend; its flows end', (y) =>
  y.example('$0 backend remove web 198.18.1.13:8080', 'take it out of the pool'));

const drainCommand = backendVerb('drain', 'keep a backend\'s flows, send it no new ones', (y) =>
  y.example('$0 backend drain web 198.18.1.13:8080', 'before maintenance'));

const undrainCommand = backendVerb('undrain', 'send a drained backend new flows again', (y) =>
  y.example('$0 backend undrain web 198.18.1.13:8080', 'after maintenance'));

export const backendCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'backend',
  describe: 'add, remove, drain or undrain a service\'s backend',
  builder: (y) =>
    y
      .command(addCommand)
      .command(removeCommand)
      .command(drainCommand)
      .command(undrainCommand)
      .demandCommand(1, 'name a backend verb: add, remove, drain or undrain'),
  handler: () => undefined,
};
