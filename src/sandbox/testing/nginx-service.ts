import type { Service } from '../../api/service.js';

/** Seed 004's ClusterIP service (8001 → 80, selecting name=nginx), for unit tests to vary with `mutate`. */
export function nginxService(name: string, mutate: (s: Service) => void = () => undefined): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.20',
      ports: [{ protocol: 'TCP', port: 8001, targetPort: 80 }],
      selector: { name: 'nginx' },
      sessionAffinity: 'None',
    },
  };
  mutate(s);
  return s;
}
