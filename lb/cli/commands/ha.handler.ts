// `lbctl ha status`: GET /ha; `lbctl ha switchover`: POST /ha/switchover.
import { renderHaStatus, writeJson, writeOut } from '../output.js';
import type { HaArgs } from './ha.js';
import { clientFor, type GlobalArgs } from './global.js';

export async function haStatus(args: HaArgs): Promise<void> {
  const s = await (await clientFor(args)).call('GET /ha', undefined);
  if (args.json) writeJson(s);
  else writeOut(renderHaStatus(s));
}

export async function switchover(args: GlobalArgs): Promise<void> {
  const r = await (await clientFor(args)).call('POST /ha/switchover', undefined);
  writeOut([`handed over to ${r.to} (epoch ${r.epoch}) in ${r.ms} ms; this node drains, then stands by`]);
}
