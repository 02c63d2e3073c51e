// `lbctl config check` (here, with config/load.ts) and `lbctl config apply` (POST /config).
import { ConfigError, parseConfig, readConfigText } from '../../../config/load.js';
import { countProblems, formatProblem, type Problem } from '../../../config/problem.js';
import { CliError } from '../errors.js';
import { writeOut } from '../output.js';
import type { ConfigFileArgs } from './config.js';
import { clientFor } from './global.js';

/** `FILE: N problems`, then every problem as `FILE: path: message`. */
function invalid(file: string, problems: Problem[]): CliError {
  return new CliError('XLB_CONFIG_INVALID', `${file}: ${countProblems(problems)}`, {
    details: problems.map((p) => `${file}: ${formatProblem(p)}`), problems,
  });
}

/** The file's text; a file too large to be a config is refused unread, as the daemon would refuse it. */
function readText(file: string): string {
  try {
    return readConfigText(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (err.code === 'XLB_CONFIG_INVALID') throw invalid(file, err.problems);
    const code = (err.cause as NodeJS.ErrnoException | undefined)?.code ?? 'error';
    throw new CliError('XLB_CONFIG_UNREADABLE', `cannot read ${file} (${code})`, { cause: err.cause });
  }
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `FILE: ok (N services, M backends)`, or every problem as `FILE: path: message` and exit 1. */
export async function check(args: ConfigFileArgs): Promise<void> {
  const { config, problems } = parseConfig(readText(args.file));
  if (!config) throw invalid(args.file, problems);
  const backends = config.pool.services.reduce((n, s) => n + s.backends.length, 0);
  writeOut([`${args.file}: ok (${plural(config.pool.services.length, 'service')}, ${plural(backends, 'backend')})`]);
}

/** POST /config with the file's text (the daemon checks it); prints what the change took. */
export async function apply(args: ConfigFileArgs): Promise<void> {
  const yaml = readText(args.file);
  const r = await (await clientFor(args)).call('POST /config', { yaml, source: args.file });
  const change = r.writes === 0 ? 'no change' : plural(r.writes, 'map write');
  writeOut([`applied ${args.file}: ${change} (${plural(r.services, 'service')}, ${plural(r.backends, 'backend')})`]);
}
