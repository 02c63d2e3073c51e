// The process's root logger: pino, JSON lines on stderr (stdout belongs to lbctl's own output). Modules take
// children of it: log.child({ module: 'health' }).
import pino, { type Logger } from 'pino';

export function rootLogger(verbose: boolean): Logger {
  return pino({ level: process.env.XLB_LOG_LEVEL ?? (verbose ? 'debug' : 'info'), base: { pid: process.pid } }, pino.destination(2));
}
