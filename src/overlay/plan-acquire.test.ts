import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { firstFree } from '../ipam/service-ips.js';
import type { StoredLease } from './lease-store.js';
import { parseNetworkConfig } from './network-config.js';
import { planAcquire } from './plan-acquire.js';

const config = parseNetworkConfig('{"Network":"10.244.0.0/22","SubnetLen":24}');
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const lease = (subnet: string, publicIp: string): StoredLease => ({
  subnet: cidr(subnet),
  attrs: { publicIp: ip(publicIp), backendType: 'udp' },
  key: subnet,
  modRevision: 5,
  etcdLease: '1',
});

describe('planAcquire', () => {
  it('reuses the lease of the same PublicIP first', () => {
    const plan = planAcquire(config, [lease('10.244.2.0/24', '172.30.1.2')], ip('172.30.1.2'), cidr('10.244.3.0/24'), firstFree);
    expect(plan.kind === 'reuse' && plan.lease.subnet.text).toBe('10.244.2.0/24');
  });
  it('then the previous subnet from subnet.env when free and leasable', () => {
    expect(planAcquire(config, [], ip('172.30.1.2'), cidr('10.244.3.0/24'), firstFree)).toMatchObject({
      kind: 'create',
      how: 'previous',
      subnet: { text: '10.244.3.0/24' },
    });
    expect(planAcquire(config, [], ip('172.30.1.2'), cidr('10.244.0.0/24'), firstFree)).toMatchObject({
      kind: 'create',
      how: 'new',
      subnet: { text: '10.244.1.0/24' },
    });
    expect(planAcquire(config, [lease('10.244.3.0/24', '172.30.1.9')], ip('172.30.1.2'), cidr('10.244.3.0/24'), firstFree)).toMatchObject({
      how: 'new',
      subnet: { text: '10.244.1.0/24' },
    });
  });
  it('reports a full network with the number of leasable subnets', () => {
    const all = ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'].map((s, i) => lease(s, `172.30.1.${i + 10}`));
    expect(planAcquire(config, all, ip('172.30.1.2'), undefined, firstFree)).toEqual({ kind: 'full', leasable: 3n });
  });
});
