import { describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../api/ip.js';
import { renderCniConfig } from './cni-config.js';

describe('renderCniConfig', () => {
  it('gives bridge + host-local over the node subnet + portmap', () => {
    const text = renderCniConfig(
      { network: parseCidr('10.244.0.0/16') as Cidr, subnet: parseCidr('10.244.3.0/24') as Cidr, mtu: 1450, ipMasq: true },
      { dataDir: '/tmp/x' },
    );
    const c = JSON.parse(text) as { cniVersion: string; plugins: Array<Record<string, unknown>> };
    expect(c.cniVersion).toBe('1.0.0');
    expect(c.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect(c.plugins[0]).toMatchObject({
      bridge: 'cni0',
      isGateway: true,
      hairpinMode: true,
      ipMasq: false,
      mtu: 1450,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: '10.244.3.0/24', gateway: '10.244.3.1' }]],
        routes: [{ dst: '10.244.0.0/16' }, { dst: '0.0.0.0/0' }],
        dataDir: '/tmp/x',
      },
    });
  });
});
