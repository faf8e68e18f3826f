import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../observe/log.js';
import type { ServiceView } from '../service-view/service-view.js';

/** One health check node port: whose it is and how many ready endpoints the service has on this node. */
export interface ServiceHealth {
  readonly namespace: string;
  readonly name: string;
  readonly localEndpoints: number;
}

/**
 * kube-proxy's HealthCheckNodePorts + LocalReadyEndpoints: every
 * externalTrafficPolicy Local LoadBalancer with a healthCheckNodePort (the
 * view has one for those only), and its ready endpoint addresses on the
 * node the views were built for. Pure.
 */
export function serviceHealthChecks(views: readonly ServiceView[]): Map<number, ServiceHealth> {
  const out = new Map<number, ServiceHealth>();
  for (const view of views) {
    const port = view.healthCheckNodePort;
    if (port === undefined) continue;
    const local = new Set<string>();
    for (const group of view.endpointGroups) for (const e of group.endpoints) if (e.ready && e.isLocal) local.add(e.ip.text);
    out.set(port, { namespace: view.namespace, name: view.name, localEndpoints: local.size });
  }
  return out;
}

/**
 * The HTTP servers on health check node ports (kube-proxy
 * pkg/proxy/healthcheck/service_health.go, hcHandler): any path answers 200
 * when the service has local endpoints and the proxy is healthy, else 503,
 * with kube-proxy's headers and tab-indented JSON body, so a cloud load
 * balancer stops sending to nodes without endpoints.
 */
export class ServiceHealthServers {
  private readonly servers = new Map<number, Server>();
  private current = new Map<number, ServiceHealth>();

  constructor(private readonly opts: { host?: string; proxyHealthy: () => boolean; logger: Logger }) {}

  /** Opens listeners for new ports, closes them for gone ones; answers follow `checks` at once. */
  sync(checks: Map<number, ServiceHealth>): void {
    this.current = checks;
    for (const [port, server] of this.servers) {
      if (checks.has(port)) continue;
      server.close();
      this.servers.delete(port);
    }
    for (const port of checks.keys()) {
      if (this.servers.has(port)) continue;
      const server = createServer((_req, res) => this.answer(port, res));
      server.on('error', (err) => {
        this.opts.logger.warn(`health check node port ${port}: ${err.message}`, { port });
        this.servers.delete(port);
      });
      server.listen(port, this.opts.host ?? '0.0.0.0');
      this.servers.set(port, server);
    }
  }

  close(): void {
    for (const server of this.servers.values()) server.close();
    this.servers.clear();
  }

  private answer(port: number, res: ServerResponse): void {
    const hc = this.current.get(port);
    const count = hc?.localEndpoints ?? 0;
    const healthy = this.opts.proxyHealthy();
    res.writeHead(count > 0 && healthy ? 200 : 503, {
      'content-type': 'application/json',
      'x-content-type-options': 'nosniff',
      'x-load-balancing-endpoint-weight': String(count),
    });
    const body = { service: { namespace: hc?.namespace ?? '', name: hc?.name ?? '' }, localEndpoints: count, serviceProxyHealthy: healthy };
    res.end(JSON.stringify(body, null, '\t'));
  }
}
