// Reading plain data (parsed YAML or JSON) against the rules: a Reader walks it and collects every problem with its
// path, never stopping at the first. Each read returns the value, or undefined when it is absent or wrong (a wrong one
// is recorded); the document checkers (poolrules.ts, document.ts, health.ts) are built from these reads.
import { posix } from 'node:path';
import { at, type Problem } from './problem.js';
import { closest } from './suggest.js';
import { NumberLiteral, parseChoice, parseCidr, parseDuration, formatMs, show, type Checked } from './values.js';

export type Mapping = Record<string, unknown>;

/** A value given in the data; YAML's empty value (`key:`) counts as not given. */
export const given = (m: Mapping, key: string): boolean => m[key] !== undefined && m[key] !== null;

export class Reader {
  readonly problems: Problem[] = [];

  add(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  check<T>(result: Checked<T>, path: string): T | undefined {
    return result.ok ? result.value : this.add(path, result.problem);
  }

  /** Runs `section` and returns its result only if it recorded no problem. */
  clean<T>(section: () => T): T | undefined {
    const before = this.problems.length;
    const value = section();
    return this.problems.length === before ? value : undefined;
  }

  /** A mapping whose keys are all `known` (an unknown one is a problem, with a "did you mean"). */
  mapping(v: unknown, path: string, known: readonly string[]): Mapping | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof NumberLiteral) {
      return this.add(path, `must be a mapping of ${known.join(', ')}`);
    }
    for (const key of Object.keys(v)) {
      if (!known.includes(key)) {
        const guess = closest(key, known);
        this.add(at(path, key), guess === undefined ? `unknown key; expected one of ${known.join(', ')}`
          : `unknown key; did you mean "${guess}"?`);
      }
    }
    return v as Mapping;
  }

  list(v: unknown, path: string): unknown[] | undefined {
    return Array.isArray(v) ? v : this.add(path, 'must be a list');
  }

  string(v: unknown, path: string): string | undefined {
    if (typeof v === 'string') return v;
    const text = v instanceof NumberLiteral ? v.text : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
    return this.add(path, text === undefined ? 'must be a string' : `must be a string; quote it: "${text}"`);
  }

  oneOf<T extends string>(v: unknown, path: string, choices: readonly T[]): T | undefined {
    return this.check(parseChoice(v, choices), path);
  }

  boolean(v: unknown, path: string): boolean | undefined {
    return typeof v === 'boolean' ? v : this.add(path, `${show(v)} is not true or false`);
  }

  duration(v: unknown, path: string, minMs: number): number | undefined {
    const ms = this.check(parseDuration(v), path);
    if (ms === undefined || ms >= minMs) return ms;
    return this.add(path, minMs <= 1 ? 'must be more than 0' : `must be at least ${formatMs(minMs)}`);
  }

  absolutePath(v: unknown, path: string): string | undefined {
    const s = this.string(v, path);
    if (s === undefined) return undefined;
    return posix.isAbsolute(s) && !s.includes('\0') ? s : this.add(path, `${show(s)} is not an absolute path`);
  }

  /** A non-empty string without whitespace: a key prefix, a node id. */
  word(v: unknown, path: string): string | undefined {
    const s = this.string(v, path);
    if (s === undefined) return undefined;
    return s !== '' && !/\s/.test(s) ? s : this.add(path, `${show(s)} must not be empty or contain spaces`);
  }

  /** A list of CIDRs, normalised, without repeats. */
  cidrs(v: unknown, path: string): string[] | undefined {
    const items = this.list(v, path);
    if (!items) return undefined;
    const seen = new Map<string, number>();
    const out: string[] = [];
    items.forEach((item, i) => {
      const cidr = this.check(parseCidr(item), at(path, i));
      if (cidr === undefined) return;
      const first = seen.get(cidr);
      if (first !== undefined) this.add(at(path, i), `${cidr} is already listed (${at(path, first)})`);
      else seen.set(cidr, i);
      out.push(cidr);
    });
    return out;
  }
}
