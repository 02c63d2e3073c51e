// `lbctl detach`: POST /detach. With no daemon running (it was stopped and left the program forwarding), and a config
// given with -c, it takes the program off that config's interfaces and removes its pins itself.
import { CliError } from '../errors.js';
import { writeOut } from '../output.js';
import { clientFor, type GlobalArgs } from './global.js';

export async function detach(args: GlobalArgs): Promise<void> {
  let r: { detached: string[] };
  try {
    r = await clientFor(args).call('POST /detach', undefined);
  } catch (err) {
    if (!(err instanceof CliError) || err.code !== 'XLB_NO_DAEMON' || !args.config) throw err;
    const [{ loadConfigFile }, { detachAll }, { removePins }, { rootLogger }] = await Promise.all([
      import('../../../config/load.js'), import('../../daemon/attach.js'), import('../../dataplane/dataplane.js'),
      import('../../log.js'),
    ]);
    const node = loadConfigFile(args.config).node;
    const detached = detachAll(node.interfaces, rootLogger(Boolean(args.verbose)).child({ module: 'detach' }));
    removePins(node.pinPath);
    writeOut([`no daemon running: ${detached.length ? `detached from ${detached.join(', ')}` : 'nothing was attached'}; removed ${node.pinPath}`]);
    return;
  }
  const from = r.detached.length ? `detached from ${r.detached.join(', ')}` : 'nothing was attached';
  writeOut([`${from}; the daemon is exiting`]);
}
