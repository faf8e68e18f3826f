import { afterAll, describe, expect, it } from 'vitest';
import { setLogSink } from '../../src/observe/log.js';
import { decodeLease, type Lease } from '../../src/overlay/lease.js';
import { Informer } from '../../src/watch/informer.js';
import { connectStore, uniquePrefix } from '../support/etcd.js';

// Dual-stack leases in flannel's layout in a real etcd, read by the same informer the overlay agent runs:
// one written as flanneld writes it (key `10.244.1.0-24&fd00:10:244:1::-64`, PublicIPv6, BackendV6Data),
// one with a malformed IPv6 part (skipped and counted, the other lease still read), one IPv4-only.
const prefix = uniquePrefix('dual-leases');
const store = connectStore();
afterAll(() => store.close());
setLogSink({ write: () => undefined });

describe('dual-stack leases from a real etcd', () => {
  it('reads a flanneld dual-stack lease, skips and counts the one with a malformed IPv6 subnet', async () => {
    const subnets = `${prefix}/subnets/`;
    const v6 =
      '{"PublicIP":"172.30.0.1","PublicIPv6":"fd00:172:30::1","BackendType":"vxlan",' +
      '"BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:01:04"},"BackendV6Data":{"VNI":1,"VtepMAC":"0e:00:00:00:01:06"}}';
    await store.put(`${subnets}10.244.1.0-24&fd00:10:244:1::-64`, v6);
    await store.put(`${subnets}10.244.2.0-24&fd00:10:244:2::7-64`, v6.replaceAll('30::1', '30::2'));
    await store.put(`${subnets}10.244.3.0-24`, '{"PublicIP":"172.30.0.3","PublicIPv6":null,"BackendType":"host-gw"}');
    const informer = new Informer<Lease>({ store, prefix: subnets, resource: 'leases', decode: (key, value) => decodeLease(key, value) });
    const ac = new AbortController();
    try {
      await informer.start(ac.signal);
      const leases = [...informer.items().values()].map((l) => [l.subnet.text, l.ipv6Subnet?.text, l.attrs.publicIpv6?.text]);
      expect(leases.sort()).toEqual([
        ['10.244.1.0/24', 'fd00:10:244:1::/64', 'fd00:172:30::1'],
        ['10.244.3.0/24', undefined, undefined],
      ]);
      expect(informer.stats().invalid).toBe(1);
    } finally {
      ac.abort();
    }
  });
});
