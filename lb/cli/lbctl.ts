#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=10
// lbctl: the xlb command line. The root wiring: global options, one command object per verb group (commands/*.ts),
// and the one error wrapper (errors.ts) that ends every run with 0 (done), 1 (failed) or 2 (usage error).
// The heap flags are for `lbctl daemon`: its garbage (thousands of probes a second) is collected before the heap grows
// to V8's default limits, which held a daemon at 4,096 backends at 200-300 MB of RSS instead of about 140 (npm run
// bench -- --control); they cost it no measurable CPU.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { backendCommand } from './commands/backend.js';
import { configCommand } from './commands/config.js';
import { daemonCommand } from './commands/daemon.js';
import { denyCommand } from './commands/deny.js';
import { detachCommand } from './commands/detach.js';
import { eventsCommand } from './commands/events.js';
import { haCommand } from './commands/ha.js';
import { type GlobalArgs, withGlobalOptions } from './commands/global.js';
import { statsCommand } from './commands/stats.js';
import { statusCommand } from './commands/status.js';
import { handleErrors, UsageError } from './errors.js';
import { writeErr } from './output.js';

export function buildParser(argv: string[]): Argv<GlobalArgs> {
  return withGlobalOptions(yargs(argv))
    .scriptName('lbctl')
    .usage('$0 <command> [options]')
    .command(daemonCommand)
    .command(configCommand)
    .command(statusCommand)
    .command(statsCommand)
    .command(backendCommand)
    .command(denyCommand)
    .command(eventsCommand)
    .command(detachCommand)
    .command(haCommand)
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .epilogue('Exit codes: 0 done, 1 failed, 2 usage error. The README\'s "lbctl" section documents the output.')
    .fail((message, err, y) => {
      // Errors from handlers pass through as they are; yargs' own complaints and bad arguments are usage errors
      // (yargs rethrows what a coerce function throws as a YError with the same message).
      if (err && !(err instanceof UsageError) && err.name !== 'YError') throw err;
      const usage = err instanceof UsageError ? err : new UsageError(err?.message ?? message);
      usage.usage ??= usageLine(y);
      throw usage;
    });
}

/** The first line of the help of the command being parsed, e.g. `lbctl backend add <service> <address>`. */
function usageLine(y: Argv): string | undefined {
  let help = '';
  y.showHelp((text) => {
    help = text;
  });
  return help.split('\n')[0]?.trim() || undefined;
}

async function main(): Promise<void> {
  // A reader that went away (lbctl events --follow | head) ends the run quietly, as for any Unix filter.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const argv = hideBin(process.argv);
  const verbose = argv.includes('--verbose');
  const code = await handleErrors(verbose, async () => {
    await buildParser(argv).parseAsync();
  }, writeErr);
  if (code !== 0) process.exitCode = code;
}

await main();
