import type { Endpoints } from '../../api/endpoints.js';
import type { Service } from '../../api/service.js';
import { makeEndpoints, makeService } from '../../api/testing/object-builders.js';
import { DEFAULT_MASQUERADE_BIT, type NodeConfig } from '../compile.js';

/**
 * The node both proxy modes' compile tests compile for, and the part of the cluster their golden
 * fixtures share. Address plan: node "node-a" 172.30.0.1; pods 10.244.0.0/16 (10.244.1.x on node-a,
 * 10.244.2.x on node-b); services 10.96.0.0/12.
 */
export const fixtureNode: NodeConfig = {
  nodeName: 'node-a',
  nodeIPs: ['172.30.0.1'],
  clusterCidr: '10.244.0.0/16',
  masqueradeBit: DEFAULT_MASQUERADE_BIT,
};

/** A NodePort service without endpoints (10.96.0.20, 30090), and ClientIP affinity over one endpoint per node (10.96.0.30). */
export function emptyAndSticky(): { services: Service[]; endpoints: Endpoints[] } {
  const empty = makeService('default', 'empty', (s) => {
    s.type = 'NodePort';
    s.clusterIP = '10.96.0.20';
    s.ports = [{ port: 80, nodePort: 30090 }];
  });
  const sticky = makeService('default', 'sticky', (s) => {
    s.clusterIP = '10.96.0.30';
    s.ports = [{ port: 80 }];
    s.sessionAffinity = 'ClientIP';
    s.sessionAffinityConfig = { clientIP: { timeoutSeconds: 600 } };
  });
  const stickyEps = makeEndpoints(
    'default',
    'sticky',
    [
      { ip: '10.244.1.6', node: 'node-a' },
      { ip: '10.244.2.6', node: 'node-b' },
    ],
    [{ port: 80 }],
  );
  return { services: [empty, sticky], endpoints: [stickyEps] };
}
