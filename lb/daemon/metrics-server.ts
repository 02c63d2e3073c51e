// The Prometheus endpoint: GET /metrics over HTTP on node.metrics (text from ./metrics.ts).
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';

/** Serves `scrape()` at http://host:port/metrics. */
export async function serveMetrics(host: string, port: number, scrape: () => string, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
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
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  log.info({ host, port }, `metrics at http://${host}:${port}/metrics`);
  return server;
}
