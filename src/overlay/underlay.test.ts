import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { FakeNetlink } from '../kernel/netlink/testing/fake-netlink.js';
import { resolveUnderlay } from './underlay.js';

/* A two-NIC node: eth0 172.30.1.11/24 (default route), eth1 172.30.2.11/24 and a second address 172.30.2.99. */
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const port = new FakeNetlink();
port.addLink({ name: 'lo', index: 1 });
port.addLink({ name: 'eth0', index: 2 });
port.addLink({ name: 'eth1', index: 3 });
await port.addAddress(1, ip('127.0.0.1'), 8);
await port.addAddress(2, ip('172.30.1.11'), 24);
await port.addAddress(3, ip('172.30.2.11'), 24);
await port.addAddress(3, ip('172.30.2.99'), 24);
await port.addRoute({ dst: parseCidr('0.0.0.0/0') as Cidr, gateway: ip('172.30.1.1'), oif: 2, onlink: false, protocol: 4 });

describe('resolveUnderlay', () => {
  it("takes the default route's interface without flags", async () => {
    const u = await resolveUnderlay(port);
    expect([u.link.name, u.publicIp?.text, u.prefixes.map((p) => p.text)]).toEqual(['eth0', '172.30.1.11', ['172.30.1.0/24']]);
  });
  it('honours --iface and --public-ip on a multi-NIC node', async () => {
    expect((await resolveUnderlay(port, { iface: 'eth1' })).publicIp?.text).toBe('172.30.2.11');
    const u = await resolveUnderlay(port, { publicIp: '172.30.2.99' });
    expect([u.link.name, u.publicIp?.text]).toEqual(['eth1', '172.30.2.99']);
    // An advertised address that is not local (NAT) keeps the chosen interface.
    expect((await resolveUnderlay(port, { iface: 'eth1', publicIp: '203.0.113.7' })).publicIp?.text).toBe('203.0.113.7');
  });
  it('says what is wrong', async () => {
    await expect(resolveUnderlay(port, { iface: 'eth9' })).rejects.toThrow('--iface: no interface named eth9');
    await expect(resolveUnderlay(port, { publicIp: 'x' })).rejects.toThrow('--public-ip: "x" is not an IPv4 address');
    await expect(resolveUnderlay(port, { publicIpv6: '10.0.0.1' })).rejects.toThrow('--public-ipv6: "10.0.0.1" is not an IPv6 address');
  });
  it("takes the interface's first global IPv6 address as PublicIPv6, never a link-local one", async () => {
    await port.addAddress(3, ip('fe80::1'), 64);
    await port.addAddress(3, ip('fd00:172:30::11'), 64);
    const u = await resolveUnderlay(port, { iface: 'eth1' });
    expect([u.publicIpv6?.text, u.prefixes.map((p) => p.text)]).toEqual(['fd00:172:30::11', ['172.30.2.0/24', 'fd00:172:30::/64']]);
    expect((await resolveUnderlay(port, { publicIpv6: 'fd00:172:30::11' })).link.name).toBe('eth1');
  });
});
