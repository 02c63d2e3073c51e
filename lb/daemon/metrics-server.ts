// The Prometheus endpoint: GET /metrics over HTTP on node.metrics (text from ./metrics.ts), with the limits every
// daemon server has against slow clients.
import type { Logger } from 'pino';
import { HttpServer } from '../http.js';

/** A scrape is one small GET: its headers within 5 s, all of it within 10 s. */
const LIMITS = { headersTimeoutMs: 5000, requestTimeoutMs: 10_000 };

/** Serves `scrape()` at http://host:port/metrics. */
export async function serveMetrics(host: string, port: number, scrape: () => string, log: Logger): Promise<HttpServer> {
  const server = new HttpServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    try {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(scrape());
    } catch (err) {
      log.error({ err }, 'metrics failed');
      res.writeHead(500).end();
    }
  }, LIMITS);
  await server.listen({ host, port });
  log.info({ host, port }, `metrics at http://${host}:${port}/metrics`);
  return server;
}
