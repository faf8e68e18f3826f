/**
 * Address plan: node "node-a"; pods 10.244.0.0/16 (10.244.1.x on node-a,
 * 10.244.2.x on node-b); services 10.96.0.0/12 and fd00:10:96::/112;
 * external 172.30.0.0/24.
 */
import { describe, expect, it } from 'vitest';
import type { Service } from '../api/service.js';
import { ValidationError } from '../api/errors.js';
import { makeEndpoints, makeService } from '../api/testing/object-builders.js';
import { validateEndpoints } from '../api/endpoints.js';
import { projectService } from './project-service.js';

const ips = (list: readonly { text: string; family: number }[]): string[] => list.map((ip) => `${ip.text}/${ip.family}`);

describe('projectService', () => {
  const lb = makeService('default', 'web', (s, raw) => {
    s.type = 'LoadBalancer';
    s.clusterIPs = ['10.96.0.10', 'fd00:10:96::10'];
    s.externalIPs = ['172.30.0.100'];
    s.loadBalancerSourceRanges = ['172.30.0.0/24'];
    s.externalTrafficPolicy = 'Local';
    s.sessionAffinity = 'ClientIP';
    s.ports = [
      { name: 'http', port: 80, targetPort: 'http', nodePort: 30080 },
      { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
    ];
    raw.status = { loadBalancer: { ingress: [{ ip: '172.30.0.200' }, { hostname: 'lb.example.com' }] } };
  });

  it('parses every address once, with its family, and fills defaults', () => {
    const v = projectService(lb, undefined, 'node-a');
    expect(v.key).toBe('default/web');
    expect(ips(v.clusterIPs)).toEqual(['10.96.0.10/4', 'fd00:10:96::10/6']);
    expect(ips(v.externalIPs)).toEqual(['172.30.0.100/4']);
    expect(ips(v.loadBalancerIPs)).toEqual(['172.30.0.200/4']);
    expect(v.loadBalancerSourceRanges.map((c) => c.text)).toEqual(['172.30.0.0/24']);
    expect(v.affinityTimeoutSeconds).toBe(10_800);
    expect([v.externalTrafficPolicy, v.internalTrafficPolicy]).toEqual(['Local', 'Cluster']);
    expect(v.ports.map((p) => [p.name, p.servicePortName, p.protocol, p.port, p.nodePort])).toEqual([
      ['http', 'default/web:http', 'TCP', 80, 30080],
      ['dns', 'default/web:dns', 'UDP', 53, 30053],
    ]);
  });

  it('gives a ClusterIP service no node ports and an unnamed port the bare service name', () => {
    const v = projectService(
      makeService('ns', 'a', (s) => {
        s.clusterIP = '10.96.0.11';
        s.ports = [{ port: 80 }];
      }),
      undefined,
      'node-a',
    );
    expect(v.ports.map((p) => [p.name, p.servicePortName, p.nodePort])).toEqual([['', 'ns/a', undefined]]);
    expect([v.affinityTimeoutSeconds, v.externalTrafficPolicy, v.publishNotReadyAddresses, v.headless]).toEqual([
      undefined,
      'Cluster',
      false,
      false,
    ]);
  });

  it('has no addresses for headless and ExternalName services', () => {
    const headless = projectService(
      makeService('ns', 'h', (s) => {
        s.clusterIP = 'None';
      }),
      undefined,
      undefined,
    );
    expect([headless.headless, headless.clusterIPs]).toEqual([true, []]);
    const ext = projectService(
      makeService('ns', 'e', (s) => {
        s.type = 'ExternalName';
        s.externalName = 'example.com';
      }),
      undefined,
      undefined,
    );
    expect([ext.externalName, ext.clusterIPs]).toEqual(['example.com', []]);
  });

  it('resolves endpoints per port by name and protocol, with state, node and locality', () => {
    const eps = validateEndpoints({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { namespace: 'default', name: 'web' },
      subsets: [
        {
          addresses: [
            { ip: '10.244.2.100', nodeName: 'node-b', hostname: 'web-1' },
            { ip: '10.244.1.11', nodeName: 'node-a' },
          ],
          notReadyAddresses: [{ ip: '10.244.1.9', nodeName: 'node-a' }],
          ports: [
            { name: 'http', port: 8080 },
            { name: 'dns', port: 5353, protocol: 'UDP' },
          ],
        },
        // The same address again, ready here: it counts once, as ready.
        { addresses: [{ ip: '10.244.1.9', nodeName: 'node-a' }, { ip: 'fd00:244::5' }], ports: [{ name: 'http', port: 8080 }] },
      ],
    });
    const v = projectService(lb, eps, 'node-a');
    const http = v.ports[0]?.endpoints.map((e) => [e.address, e.ready, e.serving, e.terminating, e.isLocal, e.nodeName, e.hostname]);
    // Numeric address order (10.244.1.9 before 10.244.1.11), IPv4 before IPv6.
    expect(http).toEqual([
      ['10.244.1.9:8080', true, true, false, true, 'node-a', undefined],
      ['10.244.1.11:8080', true, true, false, true, 'node-a', undefined],
      ['10.244.2.100:8080', true, true, false, false, 'node-b', 'web-1'],
      ['[fd00:244::5]:8080', true, true, false, false, undefined, undefined],
    ]);
    expect(v.ports[1]?.endpoints.map((e) => [e.address, e.ready, e.serving])).toEqual([
      ['10.244.1.9:5353', false, false],
      ['10.244.1.11:5353', true, true],
      ['10.244.2.100:5353', true, true],
    ]);
    // The groups keep the source's order and every port (DNS's headless records and SRV).
    expect(v.endpointGroups.map((g) => g.endpoints.map((e) => e.ip.text))).toEqual([
      ['10.244.2.100', '10.244.1.11', '10.244.1.9'],
      ['10.244.1.9', 'fd00:244::5'],
    ]);
    expect(v.endpointGroups[0]?.ports).toEqual([
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'dns', port: 5353, protocol: 'UDP' },
    ]);
  });

  it('matches endpoint ports on protocol too', () => {
    const eps = makeEndpoints('default', 'web', [{ ip: '10.244.1.5', node: 'node-a' }], [{ name: 'dns', port: 53, protocol: 'TCP' }]);
    expect(projectService(lb, eps, 'node-a').ports[1]?.endpoints).toEqual([]);
  });

  // kubernetes pkg/proxy/serviceport.go newBaseServiceInfo: proxyutil MapIPsByIPFamily / MapCIDRsByIPFamily
  // (pkg/proxy/util/utils.go) log and skip an entry that does not parse, an empty one silently; an LB
  // ingress IP that does not parse matches no family and is skipped too.
  it('leaves out list entries that are no address, names them, and keeps the rest of the service', () => {
    const bad: Service = {
      ...lb,
      spec: { ...lb.spec, externalIPs: ['172.30.0.300', '', '172.30.0.100'], loadBalancerSourceRanges: ['10.0.0.0/8', 'ten/8'] },
      status: { loadBalancer: { ingress: [{ ip: 'lb' }, { ip: '172.30.0.200' }] } },
    };
    const v = projectService(bad, undefined, 'node-a');
    expect(ips(v.externalIPs)).toEqual(['172.30.0.100/4']);
    expect(ips(v.loadBalancerIPs)).toEqual(['172.30.0.200/4']);
    expect(v.loadBalancerSourceRanges.map((c) => c.text)).toEqual(['10.0.0.0/8']);
    expect(v.loadBalancerSourceRangesInvalid).toBe(false);
    expect(v.ports.map((p) => p.nodePort)).toEqual([30080, 30053]);
    expect(v.ignoredFields).toEqual([
      { field: 'status.loadBalancer.ingress[0].ip', value: 'lb', reason: 'is not an IP address' },
      { field: 'spec.externalIPs[0]', value: '172.30.0.300', reason: 'is not an IP address' },
      { field: 'spec.loadBalancerSourceRanges[1]', value: 'ten/8', reason: 'is not a CIDR' },
    ]);
    expect(projectService(lb, undefined, 'node-a').ignoredFields).toEqual([]);
  });

  it('says so when source ranges are listed and none parses (the proxies then allow no source)', () => {
    const only = (ranges: string[]): boolean =>
      projectService({ ...lb, spec: { ...lb.spec, loadBalancerSourceRanges: ranges } }, undefined, 'node-a')
        .loadBalancerSourceRangesInvalid;
    expect(only(['10.0.0.0/33', 'x'])).toBe(true);
    expect(only(['', ' '])).toBe(false);
    expect(only([])).toBe(false);
    expect(only(['x', '10.0.0.0/8'])).toBe(false);
  });

  it('rejects a cluster IP that does not parse, naming the object and field', () => {
    const bad: Service = { ...lb, spec: { ...lb.spec, clusterIPs: ['10.96.0.300'] } };
    const err = (() => {
      try {
        projectService(bad, undefined, 'node-a');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toBe('service default/web: spec.clusterIPs[0]: "10.96.0.300" is not an IP address');
  });
});
