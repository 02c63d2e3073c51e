// The options every lbctl verb takes (--socket, -c/--config, --timeout, --verbose) and how they resolve to a control
// socket. The config modules (and the YAML parser) are loaded only when -c is given: most verbs never need them.
import type { Argv } from 'yargs';
import { DEFAULTS } from '../../../config/types.js';
import { ControlClient } from '../client.js';
import { CliError, UsageError } from '../errors.js';

export interface GlobalArgs {
  socket?: string;
  config?: string;
  /** Seconds to wait for the daemon's answer. */
  timeout?: number;
  verbose: boolean;
}

const DEFAULT_TIMEOUT_S = 30;

/** --timeout SECONDS: a positive number, at most a day. */
function parseTimeout(v: unknown): number {
  const s = String(v);
  const n = /^[0-9]*\.?[0-9]+$/.test(s) ? Number(s) : NaN;
  if (!(n > 0 && n <= 86400)) throw new UsageError(`--timeout: "${s}" is not a number of seconds, more than 0 and at most 86400`);
  return n;
}

/** The environment variable naming the control socket when neither --socket nor -c is given. */
export const SOCKET_ENV = 'XLB_SOCKET';

export function withGlobalOptions(y: Argv): Argv<GlobalArgs> {
  return y
    .option('socket', {
      type: 'string',
      requiresArg: true,
      describe: 'the daemon\'s control socket',
      defaultDescription: `-c FILE's, else $${SOCKET_ENV}, else ${DEFAULTS.controlSocket}`,
      global: true,
    })
    .option('config', {
      alias: 'c',
      type: 'string',
      requiresArg: true,
      describe: 'the node\'s config file (its node.control_socket is the socket)',
      global: true,
    })
    .option('timeout', {
      type: 'string',
      requiresArg: true,
      describe: 'seconds to wait for the daemon\'s answer; a change it has not begun by then is cancelled and ' +
        'reported as not applied, one under way is waited for',
      defaultDescription: String(DEFAULT_TIMEOUT_S),
      coerce: parseTimeout,
      global: true,
    })
    .option('verbose', {
      type: 'boolean',
      default: false,
      describe: 'show error codes and stack traces',
      global: true,
    });
}

/**
 * The control socket: --socket; else -c FILE's node.control_socket (the default socket when the file has none, as
 * the daemon started with it would use); else $XLB_SOCKET; else /run/xlb/xlb.sock.
 * Only node.control_socket is read from FILE, so a file with problems elsewhere still names its daemon.
 */
export async function resolveSocket(
  args: Pick<GlobalArgs, 'socket' | 'config'>, env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (args.socket) return args.socket;
  if (args.config) return controlSocketOf(args.config);
  return env[SOCKET_ENV] || DEFAULTS.controlSocket;
}

async function controlSocketOf(file: string): Promise<string> {
  const [{ ConfigError, readConfigText }, { parseYaml }] = await Promise.all([
    import('../../../config/load.js'), import('../../../config/yaml.js'),
  ]);
  let text: string;
  try {
    text = readConfigText(file);
  } catch (err) {
    if (!(err instanceof ConfigError) || err.code !== 'XLB_CONFIG_UNREADABLE') throw err;
    const code = (err.cause as NodeJS.ErrnoException | undefined)?.code ?? 'error';
    throw new CliError('XLB_CONFIG_UNREADABLE',
      `cannot read ${file} (${code}) to find its control socket; pass --socket instead`, { cause: err.cause });
  }
  const { data, problems } = parseYaml(text);
  if (problems.length > 0) {
    throw new CliError('XLB_CONFIG_INVALID',
      `${file} is not valid YAML, so its control socket is unknown (run lbctl config check ${file}); pass --socket instead`);
  }
  const node = (data as { node?: { control_socket?: unknown } } | null)?.node;
  const socket = node?.control_socket;
  if (socket === undefined || socket === null) return DEFAULTS.controlSocket;
  if (typeof socket !== 'string' || socket === '') {
    throw new CliError('XLB_CONFIG_INVALID', `${file}: node.control_socket is not a path; pass --socket instead`);
  }
  return socket;
}

export async function clientFor(args: Pick<GlobalArgs, 'socket' | 'config' | 'timeout'>): Promise<ControlClient> {
  return new ControlClient(await resolveSocket(args), { timeoutMs: (args.timeout ?? DEFAULT_TIMEOUT_S) * 1000 });
}
