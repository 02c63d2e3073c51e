// Following the interfaces xlb runs on: each is looked at every second (its ifindex, and that xlb's program is
// still the one on it), so an interface deleted and made again is noticed and attached again. The comparison is
// pure; the daemon does what it finds.
import type { AttachedInterface, Mode } from './attach.js';

export type LinkChange =
  /** The interface is gone. */
  | { name: string; kind: 'lost' }
  /** An interface of that name is there again (or anew, with another ifindex): attach to it. */
  | { name: string; kind: 'back'; ifindex: number }
  /** Same interface, but xlb's program is no longer on it (`program`: what is, 0 for nothing). */
  | { name: string; kind: 'taken'; program: number };

/**
 * What changed since `links` were last brought up to date. `ifindexOf` answers undefined for a missing interface;
 * `programOn` the id of the program attached in a mode (0 for none), undefined when it cannot tell (the interface
 * went meanwhile: the next look sees that).
 */
export function linkChanges(
  links: readonly AttachedInterface[],
  ifindexOf: (name: string) => number | undefined,
  programOn: (ifindex: number, mode: Mode) => number | undefined,
): LinkChange[] {
  const changes: LinkChange[] = [];
  for (const link of links) {
    const now = ifindexOf(link.name);
    if (now === undefined) {
      if (link.state !== 'missing') changes.push({ name: link.name, kind: 'lost' });
    } else if (now !== link.ifindex || link.state === 'missing') {
      changes.push({ name: link.name, kind: 'back', ifindex: now });
    } else if (link.state === 'attached') {
      const program = programOn(now, link.mode);
      if (program !== undefined && program !== link.programId) changes.push({ name: link.name, kind: 'taken', program });
    }
  }
  return changes;
}
