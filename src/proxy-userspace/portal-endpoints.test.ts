import { describe, expect, it } from 'vitest';
import { validateEndpoints } from '../api/endpoints.js';
import { portalEndpoints } from './portal-endpoints.js';
import type { ServicePortal } from './service-portals.js';

const portal = (portName: string, protocol: 'TCP' | 'UDP'): ServicePortal => ({
  name: `default/web:${portName}`, service: 'default/web', portName, protocol,
  clusterIP: '10.96.0.10', port: 53, externalIPs: [], nodePort: undefined, affinitySeconds: undefined,
});

describe('portalEndpoints', () => {
  const ep = validateEndpoints({
    apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' },
    subsets: [
      { addresses: [{ ip: '10.244.1.12' }, { ip: '10.244.1.11' }], notReadyAddresses: [{ ip: '10.244.1.13' }], ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 5353 }] },
      { addresses: [{ ip: '10.244.2.5' }], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
    ],
  });

  it('takes ready addresses of every subset whose port matches by name and protocol, sorted', () => {
    expect(portalEndpoints(portal('dns', 'UDP'), ep)).toEqual(['10.244.1.11:5353', '10.244.1.12:5353', '10.244.2.5:53']);
    expect(portalEndpoints(portal('dns-tcp', 'TCP'), ep)).toEqual(['10.244.1.11:5353', '10.244.1.12:5353']);
    expect(portalEndpoints(portal('dns', 'TCP'), ep)).toEqual([]);
    expect(portalEndpoints(portal('dns', 'UDP'), undefined)).toEqual([]);
  });
});
