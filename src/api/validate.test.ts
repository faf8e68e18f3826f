import { describe, expect, it } from 'vitest';
import { decodeManifests } from './decode.js';
import { validateObject } from './object.js';
import type { Service } from './service.js';

const svc = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'web' }) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata,
  spec,
});

describe('validateObject', () => {
  it('fills Kubernetes defaults', () => {
    const s = validateObject(svc({ ports: [{ port: 80 }], selector: { app: 'web' } })) as Service;
    expect(s.metadata.namespace).toBe('default');
    expect(s.spec.type).toBe('ClusterIP');
    expect(s.spec.sessionAffinity).toBe('None');
    expect(s.spec.ports).toEqual([{ protocol: 'TCP', port: 80, targetPort: 80 }]);
  });

  it('keeps named target ports and ClientIP affinity with its default timeout', () => {
    const s = validateObject(svc({ ports: [{ name: 'http', port: 80, targetPort: 'http-web' }], sessionAffinity: 'ClientIP' })) as Service;
    expect(s.spec.ports[0]?.targetPort).toBe('http-web');
    expect(s.spec.sessionAffinityConfig?.clientIP.timeoutSeconds).toBe(10_800);
  });

  it.each([
    [
      svc({
        ports: [
          { port: 80, name: 'a' },
          { port: 70000, name: 'b' },
        ],
      }),
      'service default/web: spec.ports[1].port: 70000 is out of range 1-65535',
    ],
    [
      svc({ ports: [{ port: 80, targetPort: 'Not_A_Label' }] }),
      'service default/web: spec.ports[0].targetPort: "Not_A_Label" is not a valid port name',
    ],
    [
      svc({ ports: [{ port: 80 }, { port: 81 }] }),
      'service default/web: spec.ports[0].name: is required when a service has more than one port',
    ],
    [svc({ ports: [{ port: 80 }] }, {}), 'service default/<unnamed>: metadata.name: is required'],
    [svc({ ports: [{ port: 80 }] }, { name: 'Web' }), 'service default/Web: metadata.name: "Web" is not a DNS label'],
    [svc({ ports: [{ port: 80 }], type: 'Magic' }), 'service default/web: spec.type: "Magic" is not one of'],
    [
      svc({ ports: [{ port: 80, nodePort: 30001 }] }),
      'service default/web: spec.ports[0].nodePort: may only be set for type NodePort or LoadBalancer',
    ],
    [
      svc({ ports: [{ port: 80 }], clusterIP: 'None', type: 'NodePort' }),
      'service default/web: spec.clusterIP: "None" (headless) is only valid for type ClusterIP',
    ],
    [
      svc({ ports: [{ port: 80 }], clusterIP: '10.96.0.300' }),
      'service default/web: spec.clusterIPs[0]: "10.96.0.300" is not an IP address',
    ],
    [svc({ ports: [{ port: 80 }], selector: { app: 'a b' } }), 'service default/web: spec.selector.app: "a b" is not a valid label value'],
    [svc({}), 'service default/web: spec.ports: at least one port is required'],
    [
      { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'rc' } },
      'replicationcontroller default/rc: kind "ReplicationController" is not served by keel',
    ],
    [{ apiVersion: 'apps/v1', kind: 'Service', metadata: { name: 'x' } }, 'service default/x: apiVersion: "apps/v1" is not served'],
    [
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: 'nope' }] }] },
      'endpoints default/e: subsets[0].addresses[0].ip: "nope" is not an IP address',
    ],
    [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } },
      'pod default/p: spec.containers: at least one container is required',
    ],
  ])('rejects %# with one line naming object and field', (raw, message) => {
    expect(() => validateObject(raw)).toThrow(message);
  });

  it('accepts headless services without ports and ExternalName services', () => {
    expect((validateObject(svc({ clusterIP: 'None', selector: { app: 'db' } })) as Service).spec.clusterIP).toBe('None');
    expect((validateObject(svc({ type: 'ExternalName', externalName: 'db.example.org' })) as Service).spec.externalName).toBe(
      'db.example.org',
    );
  });

  it('canonicalises IPv6 cluster IPs', () => {
    const s = validateObject(svc({ ports: [{ port: 80 }], clusterIP: 'fd00:10:96:0:0:0:0:a' })) as Service;
    expect(s.spec.clusterIP).toBe('fd00:10:96::a');
  });
});

// kubernetes pkg/apis/core/validation ValidateServiceClusterIPsRelatedFields and ValidateService (ExternalName):
// the same fields, the same messages, one line.
describe('dual-stack fields', () => {
  const web = (spec: Record<string, unknown>) => svc({ ports: [{ port: 80 }], ...spec });
  it.each([
    [
      { clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.6'] },
      'spec.clusterIPs: Invalid value: []string{"10.96.0.6"}: first value must match `clusterIP`',
    ],
    [{ ipFamilies: ['IPv5'] }, 'spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'],
    [{ ipFamilies: ['IPv4', 'IPv4'] }, 'spec.ipFamilies[1]: Duplicate value: "IPv4"'],
    [
      { ipFamilyPolicy: 'DualStack' },
      'spec.ipFamilyPolicy: Unsupported value: "DualStack": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"',
    ],
    [
      { clusterIPs: ['None', '10.96.0.5'] },
      'spec.clusterIPs: Invalid value: []string{"None", "10.96.0.5"}: \'None\' must be the first and only value',
    ],
    [
      { clusterIPs: ['10.96.0.5', 'fd00:10:96::5', '10.96.0.6'] },
      'spec.clusterIPs: Invalid value: []string{"10.96.0.5", "fd00:10:96::5", "10.96.0.6"}: may only hold up to 2 values',
    ],
    [
      { clusterIPs: ['10.96.0.5', '10.96.0.6'] },
      'spec.clusterIPs: Invalid value: []string{"10.96.0.5", "10.96.0.6"}: may specify no more than one IP for each IP family',
    ],
    [
      { clusterIPs: ['10.96.0.5', 'fd00:10:96::5'], ipFamilies: ['IPv6', 'IPv4'] },
      'spec.clusterIPs[0]: Invalid value: "10.96.0.5": expected an IPv6 value as indicated by `ipFamilies[0]`',
    ],
    [
      { type: 'ExternalName', externalName: 'db.example.org', ports: [], ipFamilies: ['IPv4'] },
      'spec.ipFamilies: Forbidden: may not be set for ExternalName services',
    ],
    [
      { type: 'ExternalName', externalName: 'db.example.org', ports: [], ipFamilyPolicy: 'SingleStack' },
      'spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services',
    ],
  ])('refuses %j with the apiserver message', (spec, message) => {
    expect(() => validateObject(web(spec))).toThrow(`service default/web: ${message}`);
  });

  it('fills clusterIP from clusterIPs and keeps the policy and families asked for', () => {
    const s = validateObject(
      web({ clusterIPs: ['fd00:10:96::a', '10.96.0.10'], ipFamilies: ['IPv6', 'IPv4'], ipFamilyPolicy: 'RequireDualStack' }),
    ) as Service;
    expect([s.spec.clusterIP, s.spec.clusterIPs, s.spec.ipFamilies, s.spec.ipFamilyPolicy]).toEqual([
      'fd00:10:96::a',
      ['fd00:10:96::a', '10.96.0.10'],
      ['IPv6', 'IPv4'],
      'RequireDualStack',
    ]);
  });
});

describe('decodeManifests', () => {
  it('reads multi-document YAML and Lists', () => {
    const text =
      `apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 1}]}\n---\n` +
      `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"a"}}]}\n`;
    expect(decodeManifests(text, 'x.yaml').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Service/a', 'Endpoints/a']);
  });

  it('names the source of malformed YAML', () => {
    expect(() => decodeManifests('a: [\n', 'bad.yaml')).toThrow(/^bad\.yaml: malformed YAML/);
  });
});

// kubernetes pkg/proxy/servicechangetracker.go newBaseServiceInfo (TrimSpace on source ranges) and
// k8s.io/utils/net ParseIPSloppy / ParseCIDRSloppy (IPv4 leading zeros read as decimal).
describe('sloppy input kube-proxy accepts', () => {
  it('trims source ranges and reads IPv4 leading zeros as decimal, written canonically', () => {
    const s = validateObject(
      svc({
        type: 'LoadBalancer',
        ports: [{ port: 80 }],
        externalIPs: ['172.30.000.041'],
        loadBalancerSourceRanges: [' 10.0.0.0/8', '172.030.0.1/32 ', '\t192.168.001.000/24\n'],
      }),
    ) as Service;
    expect(s.spec.externalIPs).toEqual(['172.30.0.41']);
    expect(s.spec.loadBalancerSourceRanges).toEqual(['10.0.0.0/8', '172.30.0.1/32', '192.168.1.0/24']);
    const eps = validateObject({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'web' },
      subsets: [{ addresses: [{ ip: '10.244.001.005' }], ports: [{ port: 80 }] }],
    });
    expect(eps.kind === 'Endpoints' && eps.subsets[0]?.addresses[0]?.ip).toBe('10.244.1.5');
  });

  it('still rejects what is no address at all, naming the field', () => {
    expect(() => validateObject(svc({ type: 'LoadBalancer', ports: [{ port: 80 }], loadBalancerSourceRanges: ['10.0.0.256/8'] }))).toThrow(
      /spec\.loadBalancerSourceRanges\[0\]/,
    );
    expect(() => validateObject(svc({ ports: [{ port: 80 }], externalIPs: ['1.2.3'] }))).toThrow(/spec\.externalIPs\[0\]/);
  });

  // kube-apiserver refuses such entries on write; kube-proxy, reading what is stored, skips them
  // (pkg/proxy/serviceport.go newBaseServiceInfo). A stored object keeps them for the service view to skip.
  it('keeps, in what etcd holds, the address-list entries that do not parse, as written', () => {
    const raw = svc({
      type: 'LoadBalancer',
      ports: [{ port: 80 }],
      externalIPs: ['1.2.3', '172.30.000.041'],
      loadBalancerSourceRanges: [' 10.0.0.256/8 ', '10.0.0.0/8'],
    });
    const s = validateObject({ ...raw, status: { loadBalancer: { ingress: [{ ip: 'lb' }] } } }, 'etcd', { mode: 'stored' }) as Service;
    expect(s.spec.externalIPs).toEqual(['1.2.3', '172.30.0.41']);
    expect(s.spec.loadBalancerSourceRanges).toEqual(['10.0.0.256/8', '10.0.0.0/8']);
    expect(s.status?.loadBalancer?.ingress).toEqual([{ ip: 'lb' }]);
    // Not a string at all is still no Service (kube-proxy's informer could not decode it either).
    expect(() => validateObject(svc({ ports: [{ port: 80 }], externalIPs: [7] }), 'etcd', { mode: 'stored' })).toThrow(
      /spec\.externalIPs\[0\]: must be a string/,
    );
  });
});
