// `lbctl deny ...`: GET /deny, POST /deny, DELETE /deny.
import { writeJson, writeOut } from '../output.js';
import type { DenyChangeArgs, DenyListArgs } from './deny.js';
import { clientFor } from './global.js';

const entries = (n: number): string => `${n} ${n === 1 ? 'entry' : 'entries'}`;

export async function change(verb: 'add' | 'remove', args: DenyChangeArgs): Promise<void> {
  const client = await clientFor(args);
  const r = verb === 'add'
    ? await client.call('POST /deny', { cidr: args.cidr })
    : await client.call('DELETE /deny', { cidr: args.cidr });
  writeOut([`${verb === 'add' ? 'denied' : 'no longer denied:'} ${args.cidr}; the deny list has ${entries(r.deny.length)}`]);
}

export async function list(args: DenyListArgs): Promise<void> {
  const r = await (await clientFor(args)).call('GET /deny', undefined);
  if (args.json) writeJson(r);
  else writeOut(r.deny.length ? r.deny : ['the deny list is empty']);
}
