import { afterAll, describe, expect, it } from 'vitest';
import { serveProxyHealthz } from '../agent/proxy-healthz.js';
import { createLogger } from '../observe/log.js';
import { freePort } from '../store/etcd-server.js';
import { serviceViewsOf } from '../service-view/service-views.js';
import { serviceHealthChecks, ServiceHealthServers } from './service-health.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';

// Real HTTP servers on 127.0.0.1 and free ports (the agent binds 0.0.0.0 inside the node's namespace).
const servers: ServiceHealthServers[] = [];
const ac = new AbortController();
afterAll(() => {
  for (const s of servers) s.close();
  ac.abort();
});

async function get(port: number, path: string): Promise<{ status: number; body: string; weight: string | null; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return {
    status: res.status,
    body: await res.text(),
    weight: res.headers.get('x-load-balancing-endpoint-weight'),
    type: res.headers.get('content-type'),
  };
}

describe('health check node port servers (kube-proxy pkg/proxy/healthcheck/service_health.go, hcHandler)', () => {
  it('answer 200 with the local endpoint count while there are local endpoints, 503 without or when the proxy is unhealthy', async () => {
    const port = await freePort();
    const svc = makeService('shop', 'front', (s) => {
      s.type = 'LoadBalancer';
      s.clusterIP = '10.96.3.1';
      s.externalTrafficPolicy = 'Local';
      s.healthCheckNodePort = port;
      s.ports = [{ port: 80, nodePort: 30080 }];
    });
    const eps = (nodes: string[]) =>
      makeEndpoints(
        'shop',
        'front',
        nodes.map((node, i) => ({ ip: `10.244.1.${i + 1}`, node })),
        [{ port: 80 }],
      );
    let healthy = true;
    const hc = new ServiceHealthServers({ host: '127.0.0.1', proxyHealthy: () => healthy, logger: createLogger('test') });
    servers.push(hc);
    hc.sync(serviceHealthChecks(serviceViewsOf(snapshotOf([svc], [eps(['node-a', 'node-a', 'node-b'])]), 'node-a')));
    await expect
      .poll(() =>
        get(port, '/healthz')
          .then((r) => r.status)
          .catch(() => 0),
      )
      .toBe(200);
    const ok = await get(port, '/anything');
    expect(ok).toEqual({
      status: 200,
      weight: '2',
      type: 'application/json',
      body: '{\n\t"service": {\n\t\t"namespace": "shop",\n\t\t"name": "front"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
    });
    healthy = false;
    expect((await get(port, '/healthz')).status).toBe(503);
    healthy = true;
    hc.sync(serviceHealthChecks(serviceViewsOf(snapshotOf([svc], [eps(['node-b'])]), 'node-a')));
    expect(await get(port, '/healthz')).toMatchObject({ status: 503, weight: '0' });
    expect(JSON.parse((await get(port, '/healthz')).body)).toMatchObject({ localEndpoints: 0 });
  });

  it('open only for externalTrafficPolicy Local LoadBalancers', () => {
    const cluster = makeService('shop', 'c', (s) => {
      s.type = 'LoadBalancer';
      s.clusterIP = '10.96.3.2';
      s.ports = [{ port: 80, nodePort: 30081 }];
    });
    expect(serviceHealthChecks(serviceViewsOf(snapshotOf([cluster], []), 'node-a')).size).toBe(0);
  });
});

describe('kube-proxy /healthz and /livez (pkg/proxy/healthcheck/proxy_health.go)', () => {
  it('answer 200 while the last sync is within twice the period, 503 after', async () => {
    const port = await freePort();
    let now = 100_000;
    const source = { name: 'proxy-iptables', ready: () => true, lastSuccess: () => 90_000, periodMs: () => 30_000 };
    await serveProxyHealthz(`127.0.0.1:${port}`, [source], ac.signal, () => now);
    const healthz = await get(port, '/healthz');
    expect(healthz.status).toBe(200);
    expect(JSON.parse(healthz.body)).toEqual({
      lastUpdated: new Date(90_000).toISOString(),
      currentTime: new Date(100_000).toISOString(),
      nodeEligible: true,
    });
    expect((await get(port, '/livez')).status).toBe(200);
    now = 90_000 + 60_001;
    expect((await get(port, '/healthz')).status).toBe(503);
    expect((await get(port, '/livez')).status).toBe(503);
    expect((await get(port, '/metrics')).status).toBe(404);
  });
});
