// The daemon as a process (`lbctl daemon`): its config read and checked, its signals (SIGTERM and SIGINT stop,
// SIGHUP reloads), its exit code.
import { rootLogger } from '../log.js';
import { configInvalid, type ConfigError } from '../../config/load.js';
import { formatProblem } from '../../config/problem.js';
import type { Config } from '../../config/types.js';
import { checkConfig } from './config-reader.js';
import { Daemon, type DaemonOptions } from './daemon.js';

export async function runDaemon(options: DaemonOptions): Promise<number> {
  const log = rootLogger(options.verbose);
  let config: Config;
  try {
    const { config: checked, problems } = await checkConfig({ path: options.configPath });
    if (!checked) throw configInvalid(options.configPath, problems);
    config = checked;
  } catch (err) {
    // Plain lines, as lbctl config check prints them: this is what an operator reads first.
    process.stderr.write(`lbctl daemon: ${(err as Error).message}\n`);
    return 1;
  }
  const daemon = new Daemon(config, options, log);
  const stop = (signal: string) => {
    log.info({ signal }, `${signal}: stopping`);
    void daemon.stop(options.detachOnExit);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the config');
    daemon.reload().catch((err: ConfigError | Error) => {
      const problems = 'problems' in err ? err.problems.map(formatProblem) : [];
      log.error({ err, problems }, `reload rejected, the running pool stays: ${err.message}`);
    });
  });
  try {
    await daemon.start();
  } catch (err) {
    log.error({ err }, `start failed: ${(err as Error).message}`);
    await daemon.abort().catch((e) => log.error({ err: e }, 'cleanup after the failed start failed'));
    return 1;
  }
  return daemon.finished;
}
