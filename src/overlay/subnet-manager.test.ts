import { afterAll, describe, expect, it } from 'vitest';
import { AllocationError } from '../api/errors.js';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { connectStore, uniquePrefix } from '../../test/support/etcd.js';
import { LeaseStore } from './lease-store.js';
import { parseNetworkConfig } from './network-config.js';
import { SubnetManager } from './subnet-manager.js';

const kv = connectStore();
afterAll(() => kv.close());

const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const attrsFor = (n: number) => ({ publicIp: ip(`172.30.${Math.floor(n / 250)}.${(n % 250) + 1}`), backendType: 'host-gw' });

function setup(configJson = '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}') {
  const store = new LeaseStore(kv, uniquePrefix('overlay-sm'));
  const config = parseNetworkConfig(configJson);
  return { store, config, manager: (ttlSeconds = 3600) => new SubnetManager({ store, config, ttlSeconds }) };
}

describe('SubnetManager (real etcd)', () => {
  it('gives 50 concurrent acquirers 50 distinct subnets', async () => {
    const { store, manager } = setup();
    const held = await Promise.all(Array.from({ length: 50 }, (_, i) => manager().acquire(attrsFor(i))));
    expect(new Set(held.map((h) => h.subnet.text)).size).toBe(50);
    const { leases } = await store.list();
    expect(leases).toHaveLength(50);
    for (const h of held) {
      expect(leases.find((l) => l.subnet.text === h.subnet.text)?.attrs.publicIp.text).toBe(h.attrs.publicIp.text);
    }
  });

  it('gives a restarted node its subnet back: by PublicIP, or from subnet.env', async () => {
    const { store, manager } = setup();
    const first = await manager().acquire(attrsFor(1));
    expect((await manager().acquire(attrsFor(1))).subnet.text).toBe(first.subnet.text);
    const { leases } = await store.list();
    expect(leases).toHaveLength(1);
    // The lease expired (deleted here) and the node comes back with another address but its subnet.env.
    await store.delete(first);
    const again = await manager().acquire(attrsFor(2), { subnet: first.subnet });
    expect(again.subnet.text).toBe(first.subnet.text);
  });

  it('says clearly when the network is full', async () => {
    const { manager } = setup('{"Network":"10.244.0.0/28","SubnetLen":30,"Backend":{"Type":"host-gw"}}');
    const held = await Promise.all([1, 2, 3].map((i) => manager().acquire(attrsFor(i))));
    expect(new Set(held.map((h) => h.subnet.text)).size).toBe(3);
    // The type too: toThrow('text') alone passes when undefined is thrown, and acquire() rethrows what it caught.
    const full = manager().acquire(attrsFor(4));
    await expect(full).rejects.toThrow(AllocationError);
    await expect(full).rejects.toThrow('network 10.244.0.0/28: is full: all 3 /30 subnets from 10.244.0.4 to 10.244.0.12 are leased');
  });

  it('renews onto a fresh etcd lease and re-acquires a deleted lease', async () => {
    const { store, manager } = setup();
    const m = manager(60);
    const first = await m.acquire(attrsFor(7));
    const renewed = await m.renew();
    expect(renewed.subnet.text).toBe(first.subnet.text);
    expect(renewed.etcdLease).not.toBe(first.etcdLease);
    expect((await store.get(first))?.etcdLease).toBe(renewed.etcdLease);
    await store.delete(first);
    const seen: string[] = [];
    m.onReacquired((l) => seen.push(l.subnet.text));
    const back = await m.renew();
    expect(back.subnet.text).toBe(first.subnet.text);
    expect(seen).toEqual([first.subnet.text]);
  });

  it('lets the key expire with its etcd lease', async () => {
    const { store, manager } = setup();
    const held = await manager(2).acquire(attrsFor(9));
    const subnet = { subnet: parseCidr(held.subnet.text) as Cidr };
    for (let i = 0; i < 100 && (await store.get(subnet)); i++) await new Promise((r) => setTimeout(r, 200));
    expect(await store.get(subnet)).toBeUndefined();
  });

  it('gives 20 concurrent dual-stack acquirers distinct subnets in both families, though each key names a pair', async () => {
    const store = new LeaseStore(kv, uniquePrefix('overlay-sm6'));
    const config = parseNetworkConfig(
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/58","Backend":{"Type":"host-gw"}}',
    );
    // IPv4 subnets spread at random (255 leasable), IPv6 ones all aim at the first free one (63 leasable):
    // the keys differ, so only the create-since-listing guard keeps the IPv6 halves apart.
    const pick = (n: bigint): bigint => (n > 100n ? BigInt(Math.floor(Math.random() * Number(n))) : 0n);
    const held = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new SubnetManager({ store, config, ttlSeconds: 3600, pick }).acquire({ ...attrsFor(i), publicIpv6: ip(`fd00:172:30::${i + 1}`) }),
      ),
    );
    expect(new Set(held.map((h) => h.subnet.text)).size).toBe(20);
    expect(new Set(held.map((h) => h.ipv6Subnet?.text)).size).toBe(20);
    const { leases } = await store.list();
    expect(leases.map((l) => l.key.slice(l.key.lastIndexOf('/') + 1)).sort()).toEqual(
      held.map((h) => `${h.subnet.text.replace('/', '-')}&${h.ipv6Subnet?.text.replace('/', '-')}`).sort(),
    );
  });
});
