import { describe, expect, it } from 'vitest';
import { DecodeError } from '../api/errors.js';
import { validateNode } from '../api/node.js';
import type { Manifest } from '../api/testing/object-builders.js';
import { decodeLeaseAttrs, type Lease } from './lease.js';
import { parseNetworkConfig } from './network-config.js';
import { mergeNodeLeases, nodeLease } from './node-lease.js';

const config = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
const node = (
  name: string,
  spec: Manifest,
  addresses: Manifest[] = [{ type: 'InternalIP', address: '172.30.0.1' }],
  annotations?: Manifest,
) =>
  validateNode({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec,
    status: { addresses },
  });
const text = (l: Lease) => ({
  subnet: l.subnet.text,
  ipv6Subnet: l.ipv6Subnet?.text,
  publicIp: l.attrs.publicIp.text,
  publicIpv6: l.attrs.publicIpv6?.text,
  backendType: l.attrs.backendType,
  backendData: l.attrs.backendData,
});

describe('nodeLease (flannel kube-subnet-mgr nodeToLease)', () => {
  it("takes the subnet from spec.podCIDR and the public IP from the node's InternalIP, the backend the cluster's", () => {
    expect(text(nodeLease(node('n1', { podCIDR: '10.244.1.0/24' }), config))).toEqual({
      subnet: '10.244.1.0/24',
      ipv6Subnet: undefined,
      publicIp: '172.30.0.1',
      publicIpv6: undefined,
      backendType: 'vxlan',
      backendData: undefined,
    });
  });

  it('takes both families from spec.podCIDRs, in either order', () => {
    const n = node('n1', { podCIDRs: ['fd00:10:244:1::/64', '10.244.1.0/24'], podCIDR: 'fd00:10:244:1::/64' }, [
      { type: 'InternalIP', address: '172.30.0.1' },
      { type: 'InternalIP', address: 'fd00::1' },
    ]);
    expect(text(nodeLease(n, config))).toMatchObject({ subnet: '10.244.1.0/24', ipv6Subnet: 'fd00:10:244:1::/64', publicIpv6: 'fd00::1' });
  });

  it("prefers flannel's annotations (public-ip, backend-type, backend-data) where a flannel node wrote them", () => {
    const n = node('n1', { podCIDR: '10.244.1.0/24' }, undefined, {
      'flannel.alpha.coreos.com/public-ip': '172.30.0.77',
      'flannel.alpha.coreos.com/backend-type': 'vxlan',
      'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0e:11:22:33:44:55"}',
      'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
    });
    expect(text(nodeLease(n, config))).toMatchObject({
      publicIp: '172.30.0.77',
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: '0e:11:22:33:44:55' },
    });
    const bad = node('n1', { podCIDR: '10.244.1.0/24' }, undefined, {
      'flannel.alpha.coreos.com/public-ip': 'not-an-ip',
      'flannel.alpha.coreos.com/backend-data': '{broken',
    });
    expect(text(nodeLease(bad, config))).toMatchObject({ publicIp: '172.30.0.1', backendData: undefined });
  });

  it('rejects a node it cannot route to, naming the node and the reason', () => {
    const cases: Array<[Manifest, Manifest[] | undefined, RegExp]> = [
      [{}, undefined, /node n1: spec.podCIDR is not set/],
      [{ podCIDRs: ['fd00:10:244:1::/64'] }, undefined, /no IPv4 subnet/],
      [{ podCIDR: '10.99.1.0/24' }, undefined, /10.99.1.0\/24 is outside the overlay network 10.244.0.0\/16/],
      [{ podCIDR: '10.0.0.0/8' }, undefined, /outside the overlay network/],
      [{ podCIDR: '10.244.1.0/24' }, [{ type: 'Hostname', address: 'n1' }], /has no IPv4 InternalIP/],
    ];
    for (const [spec, addresses, reason] of cases) {
      let err: unknown;
      try {
        nodeLease(node('n1', spec, addresses), config);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DecodeError);
      expect((err as Error).message).toMatch(reason);
    }
  });
});

describe('mergeNodeLeases', () => {
  it("lets what keel's agent on a node published win over what its Node says, and keeps the Node's subnets", () => {
    const nodes = new Map([
      ['b', nodeLease(node('b', { podCIDR: '10.244.2.0/24' }, [{ type: 'InternalIP', address: '172.30.0.2' }]), config)],
      ['a', nodeLease(node('a', { podCIDR: '10.244.1.0/24' }), config)],
    ]);
    const published = new Map([
      [
        'b',
        decodeLeaseAttrs('b', '{"PublicIP":"172.30.0.22","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:00:02"}}'),
      ],
      ['gone', decodeLeaseAttrs('gone', '{"PublicIP":"172.30.0.9","BackendType":"vxlan"}')],
    ]);
    expect(mergeNodeLeases(nodes, published).map(text)).toEqual([
      {
        subnet: '10.244.1.0/24',
        ipv6Subnet: undefined,
        publicIp: '172.30.0.1',
        publicIpv6: undefined,
        backendType: 'vxlan',
        backendData: undefined,
      },
      {
        subnet: '10.244.2.0/24',
        ipv6Subnet: undefined,
        publicIp: '172.30.0.22',
        publicIpv6: undefined,
        backendType: 'vxlan',
        backendData: { VNI: 1, VtepMAC: '0e:00:00:00:00:02' },
      },
    ]);
  });
});
