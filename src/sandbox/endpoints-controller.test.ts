import { describe, expect, it } from 'vitest';
import type { Endpoints } from '../api/endpoints.js';
import type { Pod } from '../api/pod.js';
import { MANAGED_BY, MANAGED_BY_ANNOTATION, desiredEndpoints, planEndpointWrites } from './endpoints-controller.js';
import { nginxService } from './testing/nginx-service.js';

const svc = nginxService;

function pod(name: string, ip: string | undefined, mutate: (p: Pod) => void = () => undefined): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { name: 'nginx' }, uid: `uid-${name}` },
    spec: {
      nodeName: 'node-1',
      containers: [{ name: 'nginx', image: 'nginx', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }],
    },
    status: { phase: 'Running', ...(ip ? { podIP: ip } : {}), conditions: [{ type: 'Ready', status: 'True' }] },
  };
  mutate(p);
  return p;
}

describe('desiredEndpoints', () => {
  it("gives one address per family of the service, from the pod's podIPs, IPv4 first", () => {
    const dual = (p: Pod): void => {
      p.status!.podIPs = [{ ip: p.status!.podIP! }, { ip: `fd00:10:244:1::${p.metadata.name === 'a' ? 2 : 3}` }];
    };
    const families = (f: ('IPv4' | 'IPv6')[]) => (s: ReturnType<typeof svc>) => ({ ...s, spec: { ...s.spec, ipFamilies: f } });
    const pods = [pod('a', '10.244.1.2', dual), pod('b', '10.244.1.3', dual)];
    const ips = (name: string, f: ('IPv4' | 'IPv6')[]) =>
      desiredEndpoints([families(f)(svc(name))], pods)
        .get(`default/${name}`)!
        .subsets.flatMap((x) => x.addresses.map((a) => a.ip));
    expect(ips('v6', ['IPv6'])).toEqual(['fd00:10:244:1::2', 'fd00:10:244:1::3']);
    expect(ips('both', ['IPv6', 'IPv4'])).toEqual(['10.244.1.2', '10.244.1.3', 'fd00:10:244:1::2', 'fd00:10:244:1::3']);
    expect(ips('v4', ['IPv4'])).toEqual(['10.244.1.2', '10.244.1.3']);
  });

  it('selects ready pods of the namespace, sorted by IP, with nodeName and targetRef', () => {
    const eps = desiredEndpoints(
      [svc('web')],
      [
        pod('b', '10.244.3.2', (p) => {
          p.spec.nodeName = 'node-3';
        }),
        pod('a', '10.244.1.2'),
        pod('other', '10.244.2.9', (p) => {
          p.metadata.labels = { name: 'redis' };
        }),
        pod('elsewhere', '10.244.2.8', (p) => {
          p.metadata.namespace = 'prod';
        }),
        pod('pending', undefined),
        pod('dead', '10.244.2.7', (p) => {
          p.status!.phase = 'Failed';
        }),
      ],
    );
    expect(eps.get('default/web')).toEqual({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'web', namespace: 'default', annotations: { [MANAGED_BY_ANNOTATION]: MANAGED_BY } },
      subsets: [
        {
          addresses: [
            { ip: '10.244.1.2', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' } },
            { ip: '10.244.3.2', nodeName: 'node-3', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'uid-b' } },
          ],
          notReadyAddresses: [],
          ports: [{ port: 80, protocol: 'TCP' }],
        },
      ],
    });
  });

  it('puts unready pods in notReadyAddresses unless the service publishes them', () => {
    const unready = pod('a', '10.244.1.2', (p) => {
      p.status!.conditions = [{ type: 'Ready', status: 'False' }];
    });
    expect(
      desiredEndpoints([svc('web')], [unready])
        .get('default/web')
        ?.subsets[0]?.notReadyAddresses.map((a) => a.ip),
    ).toEqual(['10.244.1.2']);
    const publish = svc('web', (s) => {
      s.spec.publishNotReadyAddresses = true;
    });
    expect(
      desiredEndpoints([publish], [unready])
        .get('default/web')
        ?.subsets[0]?.addresses.map((a) => a.ip),
    ).toEqual(['10.244.1.2']);
  });

  it('resolves a named targetPort per pod, one subset per distinct port set', () => {
    const named = svc('web', (s) => {
      s.spec.ports = [{ name: 'web', protocol: 'TCP', port: 80, targetPort: 'http' }];
    });
    const eps = desiredEndpoints(
      [named],
      [
        pod('a', '10.244.1.2'),
        pod('b', '10.244.1.3', (p) => {
          p.spec.containers[0]!.ports = [{ name: 'http', containerPort: 8080, protocol: 'TCP' }];
        }),
        pod('c', '10.244.1.4', (p) => {
          p.spec.containers[0]!.ports = [];
        }),
      ],
    ).get('default/web');
    expect(eps?.subsets.map((s) => [s.ports, s.addresses.map((a) => a.ip)])).toEqual([
      [[{ name: 'web', port: 80, protocol: 'TCP' }], ['10.244.1.2']],
      [[{ name: 'web', port: 8080, protocol: 'TCP' }], ['10.244.1.3']],
    ]);
  });

  it('leaves services without a selector (kube-dns, hand-written Endpoints) alone', () => {
    expect(
      desiredEndpoints(
        [
          svc('manual', (s) => {
            delete s.spec.selector;
          }),
        ],
        [pod('a', '10.244.1.2')],
      ).size,
    ).toBe(0);
  });

  it('gives a hostname to pods whose subdomain is the service', () => {
    const eps = desiredEndpoints(
      [svc('db')],
      [
        pod('db-0', '10.244.1.2', (p) => {
          p.spec.hostname = 'db-0';
          p.spec.subdomain = 'db';
        }),
      ],
    );
    expect(eps.get('default/db')?.subsets[0]?.addresses[0]?.hostname).toBe('db-0');
  });
});

describe('planEndpointWrites', () => {
  const want = desiredEndpoints([svc('web')], [pod('a', '10.244.1.2')]);
  const stored = (e: Endpoints): Endpoints => ({
    ...e,
    metadata: { ...e.metadata, uid: 'x', resourceVersion: '42', creationTimestamp: '2026-01-01T00:00:00Z' },
  });

  it('writes nothing when the stored content is equal', () => {
    expect(planEndpointWrites(want, new Map([...want].map(([k, e]) => [k, stored(e)])))).toEqual({ apply: [], remove: [] });
  });

  it('writes what changed and deletes only its own orphans', () => {
    const old = stored(desiredEndpoints([svc('web')], [pod('a', '10.244.1.9')]).get('default/web')!);
    const orphan = stored(desiredEndpoints([svc('gone')], [pod('a', '10.244.1.2')]).get('default/gone')!);
    const manual: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual', namespace: 'default' }, subsets: [] };
    const plan = planEndpointWrites(
      want,
      new Map([
        ['default/web', old],
        ['default/gone', orphan],
        ['default/manual', manual],
      ]),
    );
    expect(plan.apply.map((e) => e.metadata.name)).toEqual(['web']);
    expect(plan.remove).toEqual(['default/gone']);
  });
});
