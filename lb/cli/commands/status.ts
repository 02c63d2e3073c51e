// `lbctl status [--json]`: the declaration; the handler is in status.handler.ts.
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from './global.js';

export interface StatusArgs extends GlobalArgs {
  json: boolean;
}

export const statusCommand: CommandModule<GlobalArgs, StatusArgs> = {
  command: 'status',
  describe: 'role, interfaces and XDP mode, services, backends and their health',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print the Status object of the control API' })
      .example('$0 status', 'tables of services and backends')
      .example('$0 status --json | jq \'.services[].backends[] | select(.health == "down")\'', 'backends that are down'),
  handler: async (args) => (await import('./status.handler.js')).status(args),
};
