import { describe, expect, it } from 'vitest';
import { isKeelError } from '../../../api/errors.js';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../../../api/ip.js';
import { FakeNetlink } from './fake-netlink.js';

const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const cidr = (t: string): Cidr => parseCidr(t) as Cidr;

/* A node with eth0 172.30.1.11/24 (index 2) and a VXLAN device made through the port. */
async function node(): Promise<FakeNetlink> {
  const port = new FakeNetlink();
  port.addLink({ name: 'eth0', index: 2 });
  await port.addAddress(2, ip('172.30.1.11'), 24);
  await port.createVxlan({ name: 'keel.1', vni: 1, local: ip('172.30.1.11'), underlayIndex: 2, port: 8472, mtu: 1450 });
  return port;
}

const refusal = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isKeelError(err, 'KEEL_NETLINK_FAILED')).toBe(true);
  return (err as Error).message;
};

describe('FakeNetlink', () => {
  it('refuses what the kernel refuses, with the errno the kernel gives', async () => {
    const port = await node();
    const vx = (await port.links()).find((l) => l.name === 'keel.1');
    expect(vx?.vxlan?.vni).toBe(1);
    expect(
      await refusal(port.createVxlan({ name: 'keel.1', vni: 1, local: ip('172.30.1.11'), underlayIndex: 2, port: 8472, mtu: 1450 })),
    ).toMatch(/EEXIST/);
    expect(
      await refusal(port.createVxlan({ name: 'keel.2', vni: 2, local: ip('172.30.1.11'), underlayIndex: 42, port: 8472, mtu: 1450 })),
    ).toMatch(/ENODEV/);
    expect(
      await refusal(port.addRoute({ dst: cidr('10.244.2.0/24'), gateway: ip('10.244.2.0'), oif: 99, onlink: true, protocol: 0x6b })),
    ).toMatch(/ENODEV/);
    // A gateway off every connected prefix needs onlink.
    expect(
      await refusal(port.addRoute({ dst: cidr('10.244.2.0/24'), gateway: ip('10.244.2.0'), oif: 2, onlink: false, protocol: 0x6b })),
    ).toMatch(/ENETUNREACH/);
    await port.addRoute({ dst: cidr('10.244.2.0/24'), gateway: ip('172.30.1.12'), oif: 2, onlink: false, protocol: 0x6b });
    expect(await refusal(port.delRoute({ dst: cidr('10.244.3.0/24'), oif: 2, onlink: false, protocol: 0x6b }))).toMatch(/ESRCH/);
    expect(await refusal(port.addFdb({ ifindex: 2, mac: 'aa:00:00:00:00:02', dst: ip('172.30.1.12') }))).toMatch(/EOPNOTSUPP/);
    const index = vx?.index ?? 0;
    await port.addFdb({ ifindex: index, mac: 'aa:00:00:00:00:02', dst: ip('172.30.1.12') });
    expect(await refusal(port.addFdb({ ifindex: index, mac: 'aa:00:00:00:00:02', dst: ip('172.30.1.12') }))).toMatch(/EEXIST/);
    expect(await refusal(port.delNeighbor({ ifindex: index, ip: ip('10.244.2.0'), mac: 'aa:00:00:00:00:02', permanent: true }))).toMatch(
      /ENOENT/,
    );
  });

  it("lists connected routes beside added ones, drops a device's entries with it, and tells listeners after each change", async () => {
    const port = await node();
    const index = (await port.links()).find((l) => l.name === 'keel.1')?.index ?? 0;
    await port.setLink(index, true);
    await port.addRoute({ dst: cidr('10.244.2.0/24'), gateway: ip('10.244.2.0'), oif: index, onlink: true, protocol: 0x6b });
    expect((await port.routes()).map((r) => `${r.dst.text} ${r.protocol}`)).toEqual(['172.30.1.0/24 2', '10.244.2.0/24 107']);
    let events = 0;
    port.onChange(() => events++);
    await port.deleteLink(index);
    expect(events).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toBe(1);
    expect((await port.routes()).map((r) => r.dst.text)).toEqual(['172.30.1.0/24']);
  });
});
