// A problem found in a config file or a pool: where it is and what is wrong, as an operator reads it.

export interface Problem {
  /** Where, e.g. services[1].backends[0].address; empty for the document as a whole (a YAML syntax error). */
  path: string;
  message: string;
}

/** `path: message`, or the message alone when the problem has no path. */
export function formatProblem(p: Problem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

/** The path one level down: `services` + 1 -> `services[1]`, `services[1]` + `vip` -> `services[1].vip`. */
export function at(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

/** `1 problem`, `2 problems`. */
export function countProblems(problems: readonly Problem[]): string {
  return `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
}
