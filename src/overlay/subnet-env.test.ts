import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../api/ip.js';
import { parseSubnetEnv, readSubnetEnv, renderSubnetEnv, writeSubnetEnv } from './subnet-env.js';

const env = { network: parseCidr('10.244.0.0/16') as Cidr, subnet: parseCidr('10.244.7.0/24') as Cidr, mtu: 1450, ipMasq: true };

describe('subnet.env', () => {
  it('renders flannel text with the first host address', () => {
    expect(renderSubnetEnv(env)).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
  });

  it('parses back to the subnet in network form', () => {
    const back = parseSubnetEnv(renderSubnetEnv(env));
    expect(back.subnet?.text).toBe('10.244.7.0/24');
    expect(back).toMatchObject({ mtu: 1450, ipMasq: true });
    expect(() => parseSubnetEnv('FLANNEL_NETWORK=10.244.0.0/16\n')).toThrow('FLANNEL_SUBNET is missing');
  });

  it("writes flannel's IPv6 pair after the IPv4 one, and only it on an IPv6-only network", () => {
    const v6 = { ipv6Network: parseCidr('fd00:10:244::/56') as Cidr, ipv6Subnet: parseCidr('fd00:10:244:7::/64') as Cidr };
    const dual = renderSubnetEnv({ ...env, ...v6, mtu: 1430 });
    expect(dual).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n',
    );
    expect(parseSubnetEnv(dual).ipv6Subnet?.text).toBe('fd00:10:244:7::/64');
    const only = renderSubnetEnv({ ...v6, mtu: 1430, ipMasq: false });
    expect(only).toBe(
      'FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n',
    );
    expect(parseSubnetEnv(only).subnet).toBeUndefined();
    expect(() => parseSubnetEnv('FLANNEL_IPV6_NETWORK=10.0.0.0/8\nFLANNEL_IPV6_SUBNET=10.0.0.1/24\n')).toThrow('is not an IPv6 CIDR');
    expect(() => parseSubnetEnv('FLANNEL_MTU=1450\n')).toThrow('FLANNEL_NETWORK and FLANNEL_SUBNET are missing');
  });

  it('writes atomically and reads back; a missing file reads as undefined', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-senv-'));
    try {
      const path = join(dir, 'run/flannel/subnet.env');
      expect(await readSubnetEnv(path)).toBeUndefined();
      await writeSubnetEnv(path, env);
      expect(readFileSync(path, 'utf8')).toContain('FLANNEL_SUBNET=10.244.7.1/24');
      expect((await readSubnetEnv(path))?.subnet?.text).toBe('10.244.7.0/24');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
