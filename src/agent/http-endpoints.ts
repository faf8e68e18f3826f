import { createServer, type Server } from 'node:http';
import { ConfigError } from '../api/errors.js';
import { registry, renderMetrics } from '../observe/metrics.js';
import { healthReport, readinessReport, type HealthSource } from './health.js';

/** `/metrics`, `/healthz` and `/readyz` on one loopback address by default. */
export async function serveHttpEndpoints(bind: string, sources: readonly HealthSource[], signal: AbortSignal): Promise<Server> {
  const { host, port } = parseBindAddress(bind);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      renderMetrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
      return;
    }
    const report = path === '/healthz' ? healthReport(sources, Date.now()) : path === '/readyz' ? readinessReport(sources) : undefined;
    if (!report) {
      res.writeHead(404);
      res.end('not found\n');
      return;
    }
    res.writeHead(report.ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(`${report.ok ? 'ok' : 'failed'}\n${report.lines.join('\n')}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ConfigError('--metrics-bind-address', `cannot listen on ${bind}: ${err.message}`)));
    server.listen(port, host, resolve);
  });
  signal.addEventListener('abort', () => server.close(), { once: true });
  return server;
}

export function parseBindAddress(bind: string, flag = '--metrics-bind-address'): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(bind);
  const port = Number(m?.[2]);
  if (!m || port > 65_535) throw new ConfigError(flag, `${JSON.stringify(bind)} is not HOST:PORT`);
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, '') || '127.0.0.1', port };
}
