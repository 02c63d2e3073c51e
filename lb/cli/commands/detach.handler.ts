// `lbctl detach`: POST /detach.
import { writeOut } from '../output.js';
import { clientFor, type GlobalArgs } from './global.js';

export async function detach(args: GlobalArgs): Promise<void> {
  const r = await clientFor(args).call('POST /detach', undefined);
  const from = r.detached.length ? `detached from ${r.detached.join(', ')}` : 'nothing was attached';
  writeOut([`${from}; the daemon is exiting`]);
}
