// Config text and files -> a typed Config: the size limit, then YAML (yaml.ts), then the document's rules
// (document.ts). What `lbctl config check`, `config apply` and the daemon all read a config with.
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { checkConfig } from './document.js';
import { XlbError } from './errors.js';
import { configSizeProblem } from './limits.js';
import { countProblems, formatProblem, type Problem } from './problem.js';
import type { Config } from './types.js';
import { parseYaml } from './yaml.js';

/** A config that cannot be read (XLB_CONFIG_UNREADABLE; `cause` is the OS error) or has problems (XLB_CONFIG_INVALID). */
export class ConfigError extends XlbError {
  constructor(
    override readonly code: 'XLB_CONFIG_INVALID' | 'XLB_CONFIG_UNREADABLE',
    message: string,
    problems: Problem[] = [],
    options: { cause?: unknown } = {},
  ) {
    super(code, message, { problems, cause: options.cause });
    this.name = 'ConfigError';
  }
}

/** Parses and checks config text. `config` is set only when there is no problem. */
export function parseConfig(text: string): { config?: Config; problems: Problem[] } {
  const tooLarge = configSizeProblem(Buffer.byteLength(text));
  if (tooLarge) return { problems: [tooLarge] };
  const { data, problems } = parseYaml(text);
  return problems.length > 0 ? { problems } : checkConfig(data);
}

/**
 * The text of the config file `path`; one over MAX_CONFIG_BYTES is refused before it is read.
 * @throws ConfigError: XLB_CONFIG_UNREADABLE (`cause` is the OS error), XLB_CONFIG_INVALID (too large).
 */
export function readConfigText(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const tooLarge = configSizeProblem(fstatSync(fd).size);
    if (tooLarge) throw configInvalid(path, [tooLarge]);
    return readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('XLB_CONFIG_UNREADABLE', `${path}: cannot read the config: ${(err as Error).message}`, [], {
      cause: err,
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Reads and checks a config file; throws ConfigError listing every problem. */
export function loadConfigFile(path: string): Config {
  const { config, problems } = parseConfig(readConfigText(path));
  if (config) return config;
  throw configInvalid(path, problems);
}

/** XLB_CONFIG_INVALID as `FILE: N problems` and one indented line per problem: what an operator reads first. */
export function configInvalid(path: string, problems: Problem[]): ConfigError {
  const lines = [`${path}: ${countProblems(problems)}`, ...problems.map((p) => `  ${formatProblem(p)}`)];
  return new ConfigError('XLB_CONFIG_INVALID', lines.join('\n'), problems);
}
