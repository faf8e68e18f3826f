import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { decodeLease, encodeLeaseAttrs, parseSubnetKey, readVxlanData, subnetKey, vxlanBackendData } from './lease.js';

describe('lease encoding', () => {
  it('uses flannel key and value formats byte for byte', () => {
    expect(subnetKey(parseCidr('10.244.12.0/24') as Cidr)).toBe('10.244.12.0-24');
    expect(parseSubnetKey('/coreos.com/network/subnets/10.244.12.0-24')?.text).toBe('10.244.12.0/24');
    expect(parseSubnetKey('/coreos.com/network/subnets/10.244.12.1-24')).toBeUndefined();
    expect(parseSubnetKey('/coreos.com/network/config')).toBeUndefined();
    const attrs = {
      publicIp: parseIp('172.30.1.2') as IpAddress,
      backendType: 'vxlan',
      backendData: vxlanBackendData({ vni: 1, vtepMac: 'AA:bb:cc:dd:ee:01' }),
    };
    expect(encodeLeaseAttrs(attrs)).toBe(
      '{"PublicIP":"172.30.1.2","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}}',
    );
    expect(encodeLeaseAttrs({ publicIp: parseIp('172.30.1.2') as IpAddress, backendType: 'host-gw' })).toBe(
      '{"PublicIP":"172.30.1.2","PublicIPv6":null,"BackendType":"host-gw"}',
    );
  });

  it('decodes a lease flannel wrote', () => {
    const l = decodeLease(
      '/coreos.com/network/subnets/10.244.5.0-24',
      '{"PublicIP":"172.30.1.9","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"76:8a:43:9c:63:d4"}}',
    );
    expect(l.subnet.text).toBe('10.244.5.0/24');
    expect(l.attrs.publicIp.text).toBe('172.30.1.9');
    expect(readVxlanData(l)).toEqual({ vni: 1, vtepMac: '76:8a:43:9c:63:d4' });
    expect(() => decodeLease('/p/subnets/10.244.5.0-24', '{"PublicIP":"nope"}')).toThrow('lease 10.244.5.0-24: PublicIP "nope"');
  });
});
