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

  it('gives a dual-stack pod one host-local range per family, IPv4 first', () => {
    const c = JSON.parse(
      renderCniConfig({
        network: parseCidr('10.244.0.0/16') as Cidr,
        subnet: parseCidr('10.244.3.0/24') as Cidr,
        ipv6Network: parseCidr('fd00:10:244::/56') as Cidr,
        ipv6Subnet: parseCidr('fd00:10:244:3::/64') as Cidr,
        mtu: 1430,
        ipMasq: true,
      }),
    ) as { plugins: Array<{ ipam?: unknown }> };
    expect(c.plugins[0]?.ipam).toEqual({
      type: 'host-local',
      ranges: [[{ subnet: '10.244.3.0/24', gateway: '10.244.3.1' }], [{ subnet: 'fd00:10:244:3::/64', gateway: 'fd00:10:244:3::1' }]],
      routes: [{ dst: '10.244.0.0/16' }, { dst: 'fd00:10:244::/56' }, { dst: '0.0.0.0/0' }, { dst: '::/0' }],
    });
  });
});
