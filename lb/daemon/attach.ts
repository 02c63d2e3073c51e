// Attaching the program to the node's interfaces (never over another tool's program unless told to), and taking it
// off again.
import { execFile } from 'node:child_process';
import { constants } from 'node:os';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { BpfError } from '../bpf/errors.js';
import { XDP_FLAGS } from '../bpf/ffi.js';
import * as layout from '../bpf/layout.js';
import { type BpfProgram } from '../bpf/object.js';
import { ifNameToIndex, xdpDetach, xdpQueryProgId } from '../bpf/system.js';
import type { InterfaceStatus } from '../control/api.js';
import { XlbError } from '../errors.js';
import type { XdpMode } from '../../config/types.js';

const run = promisify(execFile);

const MODE_FLAGS = { native: XDP_FLAGS.DRV_MODE, generic: XDP_FLAGS.SKB_MODE } as const;
export type Mode = keyof typeof MODE_FLAGS;

/** An interface xlb's program is attached to, and the id the kernel gave that program. */
export interface AttachedInterface extends InterfaceStatus {
  programId: number;
}

/** The XDP program on interface `name` (from `ip -d link`); undefined when none. */
export async function xdpProgramOn(name: string): Promise<{ id: number; name: string } | undefined> {
  const { stdout } = await run('ip', ['-j', '-d', 'link', 'show', 'dev', name]);
  const [link] = JSON.parse(stdout || '[]') as { xdp?: { prog?: { id: number; name?: string }; attached?: { prog?: { id: number; name?: string } }[] } }[];
  const prog = link?.xdp?.prog ?? link?.xdp?.attached?.find((a) => a.prog)?.prog;
  return prog ? { id: prog.id, name: prog.name ?? '' } : undefined;
}

/**
 * Refuses interfaces that run an XDP program xlb did not put there (xlb's is named "xlb"; a previous daemon's is
 * replaced in place), unless `replace`: then each such program is named in a warning and replaced. Attaching over it
 * would take it off silently, and it would not come back when xlb stops.
 * @throws XlbError XLB_FOREIGN_XDP naming the interface and the program.
 */
export async function refuseForeign(names: readonly string[], replace: boolean, log: Logger): Promise<void> {
  for (const name of names) {
    const prog = await xdpProgramOn(name);
    if (!prog || prog.name === layout.PROGRAM) continue;
    const what = `XDP program ${prog.id}${prog.name ? ` "${prog.name}"` : ''}`;
    if (replace) {
      log.warn({ interface: name, program: prog }, `replacing ${what} on ${name}, which xlb did not put there (--force); it will not come back when xlb stops`);
      continue;
    }
    throw new XlbError('XLB_FOREIGN_XDP', `${name} runs ${what}, which xlb did not put there: take it off ` +
      `(ip link set dev ${name} xdp off) or start the daemon with --force to replace it`);
  }
}

/** The id of the program attached in `mode` on `ifindex`; 0 if none. */
export function programIdOn(ifindex: number, mode: Mode): number {
  return xdpQueryProgId(ifindex, MODE_FLAGS[mode]);
}

/** The mode a program is attached in on `ifindex` now, if any. */
function attachedMode(ifindex: number): Mode | undefined {
  if (xdpQueryProgId(ifindex, XDP_FLAGS.DRV_MODE)) return 'native';
  if (xdpQueryProgId(ifindex, XDP_FLAGS.SKB_MODE)) return 'generic';
  return undefined;
}

/**
 * Attaches `program` to every interface. An interface that already runs a program (the previous daemon's) keeps its
 * mode and gets the new program in one atomic replace, so not a packet goes unhandled across a restart. `auto` tries
 * native first and falls back to generic.
 */
export function attachAll(program: BpfProgram, names: string[], mode: XdpMode, log: Logger): AttachedInterface[] {
  const done: AttachedInterface[] = [];
  /** Interfaces that ran nothing before: the only ones a failure takes the program off again. */
  const fresh: number[] = [];
  try {
    for (const name of names) {
      const ifindex = ifNameToIndex(name);
      const current = attachedMode(ifindex);
      const tries: Mode[] = current ? [current] : mode === 'auto' ? ['native', 'generic'] : [mode];
      if (current && mode !== 'auto' && mode !== current) {
        throw new BpfError('bpf_xdp_attach', constants.errno.EBUSY, {
          object: name,
          detail: `a program is attached in ${current} mode; run lbctl detach first to switch to ${mode}`,
        });
      }
      let attached: Mode | undefined;
      for (const m of tries) {
        try {
          program.attachXdp(ifindex, MODE_FLAGS[m]);
          attached = m;
          break;
        } catch (err) {
          if (m === tries.at(-1)) throw err;
          log.warn({ interface: name, err }, `native XDP refused on ${name}, falling back to generic`);
        }
      }
      log.info({ interface: name, ifindex, mode: attached, replaced: current !== undefined }, `attached to ${name} (${attached})`);
      done.push({ name, ifindex, mode: attached!, state: 'attached', programId: programIdOn(ifindex, attached!) });
      if (!current) fresh.push(ifindex);
    }
    return done;
  } catch (err) {
    // An interface this call attached afresh would forward for a daemon that is not there: taken off again. One whose
    // predecessor's program was replaced keeps the new one, which works on the same pinned maps.
    for (const ifindex of fresh) detachOne(ifindex, log);
    throw err;
  }
}

function detachOne(ifindex: number, log: Logger): void {
  const mode = attachedMode(ifindex);
  if (!mode) return;
  try {
    xdpDetach(ifindex, MODE_FLAGS[mode]);
  } catch (err) {
    log.error({ ifindex, err }, 'detach failed');
  }
}

/**
 * Takes xlb's program off each named interface; missing interfaces are skipped, and another tool's program stays
 * where it is (logged). Returns the interfaces it was taken off.
 */
export async function detachAll(names: string[], log: Logger): Promise<string[]> {
  const detached: string[] = [];
  for (const name of names) {
    let ifindex: number;
    try {
      ifindex = ifNameToIndex(name);
    } catch {
      continue;
    }
    if (!attachedMode(ifindex)) continue;
    const prog = await xdpProgramOn(name);
    if (prog && prog.name !== layout.PROGRAM) {
      log.warn({ interface: name, program: prog }, `left XDP program ${prog.id} "${prog.name}" on ${name}: xlb did not put it there`);
      continue;
    }
    detachOne(ifindex, log);
    log.info({ interface: name }, `detached from ${name}`);
    detached.push(name);
  }
  return detached;
}
