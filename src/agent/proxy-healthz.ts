import { createServer, type Server } from 'node:http';
import { ConfigError } from '../api/errors.js';
import { healthReport, type HealthSource } from './health.js';
import { parseBindAddress } from './http-endpoints.js';

/**
 * kube-proxy's own health server (pkg/proxy/healthcheck/proxy_health.go,
 * --healthz-bind-address, default 0.0.0.0:10256), which load balancers and
 * kubelet probes ask: `/healthz` and `/livez` answer 200 while every proxy
 * sync is recent (within twice its period), 503 otherwise, with kube-proxy's
 * JSON body. keel has no node-deletion signal, so nodeEligible is always true.
 */
export async function serveProxyHealthz(
  bind: string,
  sources: readonly HealthSource[],
  signal: AbortSignal,
  now: () => number = Date.now,
): Promise<Server> {
  const { host, port } = parseBindAddress(bind, '--healthz-bind-address');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404);
      res.end('404 page not found\n');
      return;
    }
    const at = now();
    const healthy = healthReport(sources, at).ok;
    const last = Math.min(...sources.map((s) => s.lastSuccess() ?? 0));
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
    const times = `"lastUpdated": ${JSON.stringify(new Date(last).toISOString())},"currentTime": ${JSON.stringify(new Date(at).toISOString())}`;
    res.end(path === '/healthz' ? `{${times}, "nodeEligible": true}` : `{${times}}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ConfigError('--healthz-bind-address', `cannot listen on ${bind}: ${err.message}`)));
    server.listen(port, host, resolve);
  });
  signal.addEventListener('abort', () => server.close(), { once: true });
  return server;
}
