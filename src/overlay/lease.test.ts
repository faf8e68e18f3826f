import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { decodeLease, encodeLeaseAttrs, parseSubnetKey, readVxlanData, subnetKey, vxlanBackendData } from './lease.js';

describe('lease encoding', () => {
  it('uses flannel key and value formats byte for byte', () => {
    expect(subnetKey({ subnet: parseCidr('10.244.12.0/24') as Cidr })).toBe('10.244.12.0-24');
    expect(parseSubnetKey('/coreos.com/network/subnets/10.244.12.0-24')?.subnet.text).toBe('10.244.12.0/24');
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

// flannel pkg/subnet (MakeSubnetKey, ParseSubnetKey) and pkg/lease (LeaseAttrs): a dual-stack lease is one key,
// `<v4>-<len>&<v6>-<len>`, its value adding PublicIPv6 and BackendV6Data (the VTEP MAC of flannel-v6.1).
describe('dual-stack leases', () => {
  const key = '/coreos.com/network/subnets/10.244.12.0-24&fd00:10:244:c::-64';
  const flanneld =
    '{"PublicIP":"172.30.0.3","PublicIPv6":"fd00:172:30::3","BackendType":"vxlan",' +
    '"BackendData":{"VNI":1,"VtepMAC":"0e:11:22:33:44:55"},"BackendV6Data":{"VNI":1,"VtepMAC":"0e:11:22:33:44:66"}}';

  it('reads the key and value flanneld writes, and writes them back byte for byte', () => {
    const lease = decodeLease(key, flanneld);
    expect([lease.subnet.text, lease.ipv6Subnet?.text, lease.attrs.publicIpv6?.text]).toEqual([
      '10.244.12.0/24',
      'fd00:10:244:c::/64',
      'fd00:172:30::3',
    ]);
    expect(lease.attrs.backendV6Data).toEqual({ VNI: 1, VtepMAC: '0e:11:22:33:44:66' });
    expect(subnetKey(lease)).toBe('10.244.12.0-24&fd00:10:244:c::-64');
    expect(encodeLeaseAttrs(lease.attrs)).toBe(flanneld);
  });

  it('rejects a lease whose IPv6 part is malformed, naming it', () => {
    expect(() => decodeLease('/coreos.com/network/subnets/10.244.12.0-24&fd00:10:244:c::1-64', flanneld)).toThrow(
      'lease /coreos.com/network/subnets/10.244.12.0-24&fd00:10:244:c::1-64: the IPv6 part of the key (after &) is not an IPv6 subnet',
    );
    expect(() => decodeLease('/coreos.com/network/subnets/10.244.12.0-24&fd00:10:244:c::-200', flanneld)).toThrow('is not an IPv6 subnet');
    expect(() => decodeLease(key, flanneld.replace('"fd00:172:30::3"', '"172.30.0.3"'))).toThrow(
      'lease 10.244.12.0-24&fd00:10:244:c::-64: PublicIPv6 "172.30.0.3" is not an IPv6 address',
    );
  });
});
