// The daemon's HTTP servers (control socket, metrics): time limits for slow clients, and a close that ends every
// connection, so no client, however slow, keeps a stopping daemon alive.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';

export interface HttpLimits {
  /** A request's headers must arrive within this. */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
}

/** How often Node checks the two limits above; they hold to within this. */
const CHECK_EVERY_MS = 1000;
const KEEP_ALIVE_MS = 5000;

export class HttpServer {
  readonly server: Server;
  /** Responses not finished yet: answered before a close ends their connections, up to its grace period. */
  readonly #busy = new Set<ServerResponse>();

  constructor(handler: RequestListener, limits: HttpLimits) {
    this.server = createServer({
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_MS,
      connectionsCheckingInterval: CHECK_EVERY_MS,
    }, (req: IncomingMessage, res: ServerResponse) => {
      this.#busy.add(res);
      res.once('close', () => this.#busy.delete(res));
      handler(req, res);
    });
  }

  /** Listens on a unix socket path, or on host:port. */
  listen(where: string | { host: string; port: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const done = () => {
        this.server.off('error', reject);
        resolve();
      };
      if (typeof where === 'string') this.server.listen(where, done);
      else this.server.listen(where.port, where.host, done);
    });
  }

  /**
   * Stops accepting, closes idle connections, lets responses under way finish for up to `graceMs`, then ends every
   * connection left (a client holding a half-sent request among them). Resolves when all are gone.
   */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.#busy.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.server.closeAllConnections();
    await closed;
  }
}
