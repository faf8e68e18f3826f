import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import type { NetlinkPort } from '../kernel/netlink/netlink-port.js';
import { resolveUnderlay } from './underlay.js';

/* A two-NIC node: eth0 172.30.1.11/24 (default route), eth1 172.30.2.11/24 and a second address 172.30.2.99. */
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const link = (index: number, name: string) => ({ index, name, mtu: 1500, mac: '', up: true });
const port = {
  links: async () => [link(1, 'lo'), link(2, 'eth0'), link(3, 'eth1')],
  addresses: async () => [
    { ifindex: 1, address: ip('127.0.0.1'), prefixLength: 8 },
    { ifindex: 2, address: ip('172.30.1.11'), prefixLength: 24 },
    { ifindex: 3, address: ip('172.30.2.11'), prefixLength: 24 },
    { ifindex: 3, address: ip('172.30.2.99'), prefixLength: 24 },
  ],
  routes: async () => [{ dst: parseCidr('0.0.0.0/0') as Cidr, gateway: ip('172.30.1.1'), oif: 2, onlink: false, protocol: 4 }],
} as unknown as NetlinkPort;

describe('resolveUnderlay', () => {
  it('takes the default route\'s interface without flags', async () => {
    const u = await resolveUnderlay(port);
    expect([u.link.name, u.publicIp.text, u.prefix.text]).toEqual(['eth0', '172.30.1.11', '172.30.1.0/24']);
  });
  it('honours --iface and --public-ip on a multi-NIC node', async () => {
    expect((await resolveUnderlay(port, 'eth1')).publicIp.text).toBe('172.30.2.11');
    const u = await resolveUnderlay(port, undefined, '172.30.2.99');
    expect([u.link.name, u.publicIp.text]).toEqual(['eth1', '172.30.2.99']);
    // An advertised address that is not local (NAT) keeps the chosen interface.
    expect((await resolveUnderlay(port, 'eth1', '203.0.113.7')).publicIp.text).toBe('203.0.113.7');
  });
  it('says what is wrong', async () => {
    await expect(resolveUnderlay(port, 'eth9')).rejects.toThrow('--iface: no interface named eth9');
    await expect(resolveUnderlay(port, undefined, 'x')).rejects.toThrow('--public-ip: "x" is not an IPv4 address');
  });
});
