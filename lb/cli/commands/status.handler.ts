// `lbctl status`: GET /status.
import { renderStatus, writeJson, writeOut } from '../output.js';
import { clientFor } from './global.js';
import type { StatusArgs } from './status.js';

export async function status(args: StatusArgs): Promise<void> {
  const s = await (await clientFor(args)).call('GET /status', undefined);
  if (args.json) writeJson(s);
  else writeOut(renderStatus(s));
}
