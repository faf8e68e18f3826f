/**
 * Address plan: node "node-a"; pods 10.244.1.x on node-a, 10.244.2.x on node-b; services 10.96.0.0/12.
 * One service's endpoints split over three EndpointSlices, as the EndpointSlice controller splits them.
 */
import { describe, expect, it } from 'vitest';
import { validateEndpointSlice, type EndpointSlice } from '../api/endpoint-slice.js';
import { makeService } from '../api/testing/object-builders.js';
import { SliceGroups } from '../watch/slice-groups.js';
import { projectService } from './project-service.js';

const svc = makeService('default', 'web', (s) => {
  s.clusterIP = '10.96.0.10';
  s.ports = [
    { name: 'http', port: 80, targetPort: 'http' },
    { name: 'dns', port: 53, protocol: 'UDP' },
  ];
});

function slice(name: string, body: Record<string, unknown>, service = 'web'): EndpointSlice {
  return validateEndpointSlice({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ...body,
  });
}

const a = slice('web-aaaaa', {
  endpoints: [
    {
      addresses: ['10.244.1.5', '10.244.1.50'],
      conditions: { ready: true },
      nodeName: 'node-a',
      zone: 'z1',
      hints: { forZones: [{ name: 'z1' }] },
    },
    { addresses: ['10.244.2.6'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-b', hostname: 'web-1' },
  ],
  ports: [{ name: 'http', port: 8080 }],
});
const b = slice('web-bbbbb', {
  // The same address as in web-aaaaa, not ready here: the ready listing counts.
  endpoints: [
    { addresses: ['10.244.1.5'], conditions: { ready: false }, nodeName: 'node-a' },
    { addresses: ['10.244.2.7'], conditions: {} },
  ],
  ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'all' }],
});
const c = slice('web-ccccc', {
  endpoints: [{ addresses: ['10.244.2.8'], conditions: { ready: false, serving: false, terminating: true } }],
  ports: [{ name: 'http', port: 8080 }],
});
const fqdn = validateEndpointSlice({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'default', name: 'web-fqdn', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'FQDN',
  endpoints: [{ addresses: ['db.example.com'] }],
  ports: [{ name: 'http', port: 8080 }],
});

describe('a service projected from its EndpointSlices', () => {
  const view = projectService(svc, undefined, 'node-a', [a, b, c, fqdn]);

  it('merges the slices per service port, one entry per address, with the conditions kube-proxy reads', () => {
    expect(view.ports[0]?.endpoints.map((e) => [e.address, e.ready, e.serving, e.terminating, e.isLocal, e.zone, e.zoneHints])).toEqual([
      ['10.244.1.5:8080', true, true, false, true, 'z1', ['z1']],
      ['10.244.2.6:8080', false, true, true, false, undefined, undefined],
      ['10.244.2.7:8080', true, true, false, false, undefined, undefined],
      ['10.244.2.8:8080', false, false, true, false, undefined, undefined],
    ]);
    // Only slices that carry the port contribute; a port without a number ("all ports") is left out.
    expect(view.ports[1]?.endpoints.map((e) => e.address)).toEqual(['10.244.1.5:5353', '10.244.2.7:5353']);
  });

  it('keeps one group per address slice for DNS (hostname, readiness), FQDN slices left out', () => {
    expect(view.endpointGroups.map((g) => g.endpoints.map((e) => `${e.ip.text}${e.hostname ? `/${e.hostname}` : ''}`))).toEqual([
      ['10.244.1.5', '10.244.2.6/web-1'],
      ['10.244.1.5', '10.244.2.7'],
      ['10.244.2.8'],
    ]);
  });

  it('is the same view whichever order the slices arrive in', () => {
    const groups = new SliceGroups();
    for (const s of [c, fqdn, a, b]) groups.apply('default', s.metadata.name, s);
    const slices = groups.byService().get('default/web') ?? [];
    expect(slices.map((s) => s.metadata.name)).toEqual(['web-aaaaa', 'web-bbbbb', 'web-ccccc', 'web-fqdn']);
    expect(projectService(svc, undefined, 'node-a', slices)).toEqual(view);
  });
});

describe('SliceGroups', () => {
  it('joins slices to services by label, moves a relabelled slice, drops unlabelled ones and empty groups', () => {
    const groups = new SliceGroups();
    const other = slice('web-aaaaa', { endpoints: [], ports: [] }, 'api');
    expect(groups.apply('default', 'web-aaaaa', a).map((ch) => [ch.key, ch.before?.length, ch.after?.length])).toEqual([
      ['default/web', undefined, 1],
    ]);
    groups.apply('default', 'web-bbbbb', b);
    const before = groups.byService().get('default/web');
    // Relabelled to another service: both services change.
    expect(groups.apply('default', 'web-aaaaa', other).map((ch) => [ch.key, ch.before?.length, ch.after?.length])).toEqual([
      ['default/web', 2, 1],
      ['default/api', undefined, 1],
    ]);
    expect(groups.byService().get('default/web')).not.toBe(before);
    const unlabelled = { ...c, metadata: { ...c.metadata, labels: {} } };
    expect(groups.apply('default', 'web-ccccc', unlabelled)).toEqual([]);
    expect(groups.size).toBe(3);
    groups.apply('default', 'web-aaaaa', undefined);
    expect([...groups.byService().keys()]).toEqual(['default/web']);
  });
});
