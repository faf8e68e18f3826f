import { describe, expect, it } from 'vitest';
import { validateEndpoints, type Endpoints } from '../api/endpoints.js';
import { validateService } from '../api/service.js';
import { projectService } from '../service-view/project-service.js';
import type { ServicePortView } from '../service-view/service-view.js';
import { portalEndpoints } from './portal-endpoints.js';

/** Service port `portName`/`protocol` of default/web (10.96.0.10:53), as the view resolves it against `eps`. */
const port = (portName: string, protocol: 'TCP' | 'UDP', eps: Endpoints | undefined): ServicePortView => {
  const svc = validateService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { clusterIP: '10.96.0.10', ports: [{ name: portName, port: 53, protocol }] },
  });
  return projectService(svc, eps, undefined).ports[0] as ServicePortView;
};

describe('portalEndpoints', () => {
  const ep = validateEndpoints({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'default' },
    subsets: [
      {
        addresses: [{ ip: '10.244.1.12' }, { ip: '10.244.1.11' }],
        notReadyAddresses: [{ ip: '10.244.1.13' }],
        ports: [
          { name: 'dns', port: 5353, protocol: 'UDP' },
          { name: 'dns-tcp', port: 5353 },
        ],
      },
      { addresses: [{ ip: '10.244.2.5' }], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
    ],
  });

  it('takes ready addresses of every subset whose port matches by name and protocol, sorted', () => {
    expect(portalEndpoints(port('dns', 'UDP', ep))).toEqual(['10.244.1.11:5353', '10.244.1.12:5353', '10.244.2.5:53']);
    expect(portalEndpoints(port('dns-tcp', 'TCP', ep))).toEqual(['10.244.1.11:5353', '10.244.1.12:5353']);
    expect(portalEndpoints(port('dns', 'TCP', ep))).toEqual([]);
    expect(portalEndpoints(port('dns', 'UDP', undefined))).toEqual([]);
  });
});
