// `lbctl backend ...`: POST /backends, DELETE /backends, POST /backends/drain, POST /backends/undrain.
import type { ApplyResult, BackendRef } from '../../control/api.js';
import { formatEndpoint } from '../../../config/values.js';
import { writeOut } from '../output.js';
import type { BackendArgs, BackendVerb } from './backend.js';
import { clientFor } from './global.js';

export async function changeBackend(verb: BackendVerb, args: BackendArgs): Promise<void> {
  const ref: BackendRef = { service: args.service, address: args.address.address };
  if (args.address.port !== undefined) ref.port = args.address.port;
  const client = await clientFor(args);
  const endpoint = formatEndpoint(ref.address, ref.port);
  let r: ApplyResult;
  let done: string;
  switch (verb) {
    case 'add':
      r = await client.call('POST /backends', args.weight === undefined ? ref : { ...ref, weight: args.weight });
      done = `added ${endpoint} to ${args.service}${args.weight === undefined ? '' : ` with weight ${args.weight}`}`;
      break;
    case 'remove':
      r = await client.call('DELETE /backends', ref);
      done = `removed ${endpoint} from ${args.service}`;
      break;
    case 'drain':
      r = await client.call('POST /backends/drain', ref);
      done = `drained ${endpoint} in ${args.service}`;
      break;
    case 'undrain':
      r = await client.call('POST /backends/undrain', ref);
      done = `undrained ${endpoint} in ${args.service}`;
      break;
  }
  writeOut([`${done}: ${r.writes === 0 ? 'no change' : `${r.writes} map write${r.writes === 1 ? '' : 's'}`}`]);
}
