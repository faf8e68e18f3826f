/**
 * Address plan: pods 10.244.0.0/16, services 10.96.0.0/12 and fd00:10:96::/112, nodes 172.30.0.0/24.
 * Values are encoded by the test encoder (protobufjs reflection over its own
 * proto2 text) and decoded by keel's decoder; the JSON path is the reference.
 */
import { describe, expect, it } from 'vitest';
import { isKeelError } from './errors.js';
import { type validateObject } from './object.js';
import { MESSAGES } from './protobuf-schema.js';
import { decodeProtobufObject, isProtobufValue } from './protobuf-decode.js';
import { decodeStored } from '../store/object-store.js';
import { encodeK8sProtobuf } from './testing/k8s-protobuf-encoder.js';

const created = '2026-11-30T08:15:42Z';

const service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: '5d1f',
    resourceVersion: '77',
    generation: 3,
    creationTimestamp: created,
    labels: { app: 'web', tier: 'front' },
    annotations: { 'service.alpha.kubernetes.io/tolerate-unready-endpoints': 'true' },
    finalizers: ['service.kubernetes.io/load-balancer-cleanup'],
  },
  spec: {
    type: 'LoadBalancer',
    clusterIP: '10.96.0.10',
    clusterIPs: ['10.96.0.10', 'fd00:10:96::10'],
    ipFamilies: ['IPv4', 'IPv6'],
    ipFamilyPolicy: 'PreferDualStack',
    ports: [
      { name: 'http', protocol: 'TCP', appProtocol: 'http', port: 80, targetPort: 'http', nodePort: 30080 },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 30053 },
    ],
    selector: { app: 'web' },
    externalIPs: ['172.30.0.100'],
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
    loadBalancerSourceRanges: ['172.30.0.0/24'],
    externalTrafficPolicy: 'Local',
    internalTrafficPolicy: 'Local',
    healthCheckNodePort: 31000,
    publishNotReadyAddresses: true,
    allocateLoadBalancerNodePorts: true,
  },
  status: { loadBalancer: { ingress: [{ ip: '172.30.0.200', ipMode: 'VIP' }, { hostname: 'lb.example.com' }] } },
};

const endpoints = {
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name: 'web', namespace: 'shop', creationTimestamp: created },
  subsets: [
    {
      addresses: [
        {
          ip: '10.244.1.5',
          hostname: 'web-0',
          nodeName: 'node-a',
          targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-0', uid: 'p1' },
        },
      ],
      notReadyAddresses: [{ ip: '10.244.2.6', nodeName: 'node-b' }],
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
    },
  ],
};

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-0', namespace: 'shop', labels: { app: 'web' }, creationTimestamp: created },
  spec: {
    containers: [
      {
        name: 'nginx',
        image: 'nginx:1.27',
        command: ['nginx'],
        args: ['-g', 'daemon off;'],
        workingDir: '/',
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP', hostPort: 0 }],
        env: [{ name: 'MODE', value: 'prod' }],
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    nodeName: 'node-a',
    hostname: 'web-0',
    subdomain: 'web',
  },
  status: {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: created, reason: '' }],
    hostIP: '172.30.0.1',
    podIP: '10.244.1.5',
    podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00:244::5' }],
    qosClass: 'BestEffort',
  },
};

const node = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'node-a.lab.example', uid: 'n1', creationTimestamp: created, labels: { 'kubernetes.io/hostname': 'node-a' } },
  spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:244:1::/64'], providerID: 'lab://node-a', unschedulable: false },
  status: {
    phase: '',
    addresses: [
      { type: 'InternalIP', address: '172.30.0.1' },
      { type: 'Hostname', address: 'node-a' },
    ],
    volumesInUse: [],
  },
};

const slice = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-x7k2p', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' }, creationTimestamp: created },
  addressType: 'IPv4',
  endpoints: [
    {
      addresses: ['10.244.1.5'],
      conditions: { ready: true, serving: true, terminating: false },
      hostname: 'web-0',
      targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-0', uid: 'p1' },
      deprecatedTopology: { 'topology.kubernetes.io/zone': 'a' },
      nodeName: 'node-a',
      zone: 'zone-a',
      hints: { forZones: [{ name: 'zone-a' }] },
    },
    // Terminating but still serving; ready and serving say false explicitly, which is not the same as absent.
    { addresses: ['10.244.2.6'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-b' },
    { addresses: ['10.244.3.7'], conditions: {} },
  ],
  ports: [
    { name: 'http', protocol: 'TCP', port: 8080, appProtocol: 'http' },
    { name: 'dns', protocol: 'UDP', port: 5353 },
  ],
};

function stored(kind: string, key: string, value: Buffer): unknown {
  return decodeStored(kind as 'Service', { key, value, modRevision: 42 });
}

/** The JSON path's result for the same object: the reference the protobuf path must equal. */
function viaJson(kind: string, key: string, obj: object): unknown {
  return stored(kind, key, Buffer.from(JSON.stringify(obj)));
}

describe('protobuf objects as kube-apiserver stores them', () => {
  const cases = [
    ['Service', '/registry/services/specs/shop/web', service],
    ['Endpoints', '/registry/services/endpoints/shop/web', endpoints],
    ['Pod', '/registry/pods/shop/web-0', pod],
    ['Node', '/registry/minions/node-a.lab.example', node],
    ['EndpointSlice', '/registry/endpointslices/shop/web-x7k2p', slice],
  ] as const;

  it.each(cases)('decodes a %s into the object the JSON path gives, every field keel uses included', (kind, key, obj) => {
    const value = encodeK8sProtobuf(obj);
    expect(isProtobufValue(value)).toBe(true);
    const decoded = stored(kind, key, value);
    expect(decoded).toEqual(viaJson(kind, key, obj));
    expect((decoded as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('42');
  });

  it('reads the fields a Service carries through to keel', () => {
    const svc = viaJson('Service', cases[0][1], service) as ReturnType<typeof validateObject> & { kind: 'Service' };
    expect(svc.spec.ports.map((p) => [p.name, p.targetPort, p.nodePort])).toEqual([
      ['http', 'http', 30080],
      ['dns', 5353, 30053],
    ]);
    expect(svc.metadata.creationTimestamp).toBe(created);
    expect(svc.spec.sessionAffinityConfig?.clientIP.timeoutSeconds).toBe(600);
  });

  it('keeps explicit false conditions apart from absent ones in a slice', () => {
    const s = stored('EndpointSlice', cases[4][1], encodeK8sProtobuf(slice)) as { endpoints: { conditions: object }[] };
    expect(s.endpoints.map((e) => e.conditions)).toEqual([
      { ready: true, serving: true, terminating: false },
      { ready: false, serving: true, terminating: true },
      {},
    ]);
  });

  it('reads what Go writes for unset non-pointer fields: empty strings, zero numbers, an int 0 targetPort', () => {
    const goStyle = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'bare', namespace: '', generateName: '', uid: '', resourceVersion: '' },
      spec: {
        ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 0, nodePort: 0 }],
        clusterIP: '10.96.0.20',
        type: 'ClusterIP',
        sessionAffinity: '',
        loadBalancerIP: '',
        externalName: '',
        externalTrafficPolicy: '',
        healthCheckNodePort: 0,
        publishNotReadyAddresses: false,
      },
      status: { loadBalancer: {} },
    };
    const svc = stored('Service', '/registry/services/specs/default/bare', encodeK8sProtobuf(goStyle)) as { spec: object };
    expect(svc.spec).toEqual({
      type: 'ClusterIP',
      clusterIP: '10.96.0.20',
      clusterIPs: ['10.96.0.20'],
      ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }],
      sessionAffinity: 'None',
      externalTrafficPolicy: 'Cluster',
      publishNotReadyAddresses: false,
    });
  });

  it('names every message the schema refers to', () => {
    const names = new Set(Object.keys(MESSAGES));
    const refs = Object.values(MESSAGES).flatMap((fields) => Object.values(fields).map((f: { type: string }) => f.type));
    const scalars = new Set(['string', 'bool', 'int32', 'int64', 'bytes']);
    expect(refs.filter((t) => !scalars.has(t) && !names.has(t))).toEqual([]);
  });
});

describe('bad protobuf values, each rejected with its own reason', () => {
  const key = '/registry/services/specs/shop/web';
  const reason = (value: Buffer, kind = 'Service'): string => {
    try {
      stored(kind, key, value);
    } catch (err) {
      if (isKeelError(err)) return `${err.code} ${err.message}`;
      throw err;
    }
    return 'accepted';
  };
  const good = encodeK8sProtobuf(service);

  it('a truncated envelope', () => {
    expect(reason(good.subarray(0, good.length - 7))).toMatch(
      /^KEEL_DECODE_FAILED \/registry\/services\/specs\/shop\/web: malformed protobuf/,
    );
    expect(reason(good.subarray(0, 6))).toMatch(/^KEEL_DECODE_FAILED .*malformed protobuf runtime.Unknown envelope/);
  });

  it('a wrong magic: not protobuf, and not JSON either', () => {
    const wrong = Buffer.concat([Buffer.from('k8s\x01', 'latin1'), good.subarray(4)]);
    expect(isProtobufValue(wrong)).toBe(false);
    expect(reason(wrong)).toMatch(/^KEEL_DECODE_FAILED .*not JSON, nor kube-apiserver's protobuf/);
    expect(() => decodeProtobufObject(key, wrong)).toThrow(/does not start with/);
  });

  it('a kind keel does not serve, and a served kind under another API version', () => {
    const deployment = encodeK8sProtobuf(service, { apiVersion: 'apps/v1', kind: 'Deployment' });
    expect(reason(deployment)).toMatch(/^KEEL_UNSUPPORTED_KIND .*"apps\/v1\/Deployment" is not served/);
    expect(reason(encodeK8sProtobuf(slice, { apiVersion: 'discovery.k8s.io/v1beta1' }), 'EndpointSlice')).toMatch(
      /^KEEL_UNSUPPORTED_KIND .*discovery.k8s.io\/v1beta1\/EndpointSlice/,
    );
  });

  it('a field with the wrong wire type', () => {
    // Field 1 of Service (metadata, length-delimited) written as a varint.
    const body = Buffer.from([0x08, 0x01]);
    // k8s\0, then Unknown.typeMeta (field 1: apiVersion "v1", kind "Service") and Unknown.raw (field 2).
    const typeMeta = Buffer.concat([Buffer.from([0x0a, 2]), Buffer.from('v1'), Buffer.from([0x12, 7]), Buffer.from('Service')]);
    const envelope = Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, typeMeta.length]), typeMeta]);
    expect(reason(Buffer.concat([envelope, Buffer.from([0x12, body.length]), body]))).toMatch(
      /^KEEL_DECODE_FAILED .*Service.metadata \(field 1\) has wire type 0, expected 2/,
    );
  });

  it('a value that decodes but fails validation, as a JSON one would', () => {
    const bad = { ...service, spec: { ...service.spec, ports: [{ name: 'http', port: 70_000, targetPort: 80 }] } };
    expect(reason(encodeK8sProtobuf(bad))).toBe('KEEL_INVALID_OBJECT service shop/web: spec.ports[0].port: 70000 is out of range 1-65535');
  });
});
