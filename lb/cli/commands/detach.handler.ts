// `lbctl detach`: POST /detach. With no daemon running (it was stopped and left the program forwarding), and a config
// given with -c, it takes the program off that config's interfaces and removes its pins itself.
import { existsSync } from 'node:fs';
import { CliError } from '../errors.js';
import { writeOut } from '../output.js';
import { clientFor, type GlobalArgs } from './global.js';

export async function detach(args: GlobalArgs): Promise<void> {
  let r: { detached: string[] };
  try {
    r = await (await clientFor(args)).call('POST /detach', undefined);
  } catch (err) {
    if (!(err instanceof CliError) || err.code !== 'XLB_NO_DAEMON' || !args.config) throw err;
    const [{ loadConfigFile }, { detachAll }, { PIN_NAMES }, { PinLock, removePins }, { rootLogger }] = await Promise.all([
      import('../../../config/load.js'), import('../../daemon/attach.js'), import('../../dataplane/dataplane.js'),
      import('../../dataplane/pindir.js'), import('../../log.js'),
    ]);
    const node = loadConfigFile(args.config).node;
    // A daemon on another socket may still own the pins: it is refused (XLB_CONFLICT) rather than pulled from under.
    const lock = existsSync(node.pinPath) ? PinLock.acquire(node.pinPath) : undefined;
    try {
      const detached = await detachAll(node.interfaces, rootLogger(Boolean(args.verbose)).child({ module: 'detach' }));
      const removed = lock ? removePins(node.pinPath, PIN_NAMES) : [];
      const attached = detached.length ? `detached from ${detached.join(', ')}` : 'nothing was attached';
      writeOut([`no daemon running: ${attached}; ${removed.length ? `removed xlb's pins in ${node.pinPath}` : 'no pins'}`]);
    } finally {
      lock?.release();
    }
    return;
  }
  const from = r.detached.length ? `detached from ${r.detached.join(', ')}` : 'nothing was attached';
  writeOut([`${from}; the daemon is exiting`]);
}
