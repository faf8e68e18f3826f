import type { Service } from '../api/service.js';

/**
 * The environment kubelet gives a container for every Service of its
 * namespace that exists when the pod starts (docker-links style), e.g.
 * REDIS_MASTER_SERVICE_HOST=10.96.0.12, REDIS_MASTER_SERVICE_PORT=6379,
 * REDIS_MASTER_PORT=tcp://10.96.0.12:6379.
 */
export function serviceEnv(services: Iterable<Service>, namespace: string): Record<string, string> {
  const env: Record<string, string> = {};
  const sorted = [...services]
    .filter((s) => s.metadata.namespace === namespace)
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  for (const svc of sorted) {
    const ip = svc.spec.clusterIP;
    if (!ip || ip === 'None' || svc.spec.type === 'ExternalName') continue;
    const name = svc.metadata.name.toUpperCase().replace(/-/g, '_');
    const first = svc.spec.ports[0];
    if (!first) continue;
    env[`${name}_SERVICE_HOST`] = ip;
    env[`${name}_SERVICE_PORT`] = String(first.port);
    env[`${name}_PORT`] = `${first.protocol.toLowerCase()}://${ip}:${first.port}`;
    for (const p of svc.spec.ports) {
      if (p.name) env[`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
      const base = `${name}_PORT_${p.port}_${p.protocol}`;
      env[base] = `${p.protocol.toLowerCase()}://${ip}:${p.port}`;
      env[`${base}_PROTO`] = p.protocol.toLowerCase();
      env[`${base}_PORT`] = String(p.port);
      env[`${base}_ADDR`] = ip;
    }
  }
  return env;
}

export function resolvConf(namespace: string, dnsIp: string, domain: string): string {
  return `search ${namespace}.svc.${domain} svc.${domain} ${domain}\nnameserver ${dnsIp}\noptions ndots:5\n`;
}
