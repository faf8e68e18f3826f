/**
 * The part of Kubernetes' protobuf wire format keel reads: for each message,
 * field number → JSON name and type, taken from the public generated.proto
 * files of k8s.io/api (core/v1, discovery/v1) and k8s.io/apimachinery
 * (meta/v1, runtime, util/intstr). Fields keel does not use are absent and
 * skipped on the wire, as protobuf skips unknown fields.
 */
export interface FieldSpec {
  readonly name: string;
  /** A scalar or the name of another message in MESSAGES (`MapEntry` for map<string, string>, which the wire spells as repeated entries). */
  readonly type: string;
  readonly repeated?: true;
}

export type Fields = Readonly<Record<number, FieldSpec>>;

const str = (name: string): FieldSpec => ({ name, type: 'string' });
const strs = (name: string): FieldSpec => ({ name, type: 'string', repeated: true });
const int = (name: string): FieldSpec => ({ name, type: 'int32' });
const bool = (name: string): FieldSpec => ({ name, type: 'bool' });
const map = (name: string): FieldSpec => ({ name, type: 'MapEntry' });
const msg = (name: string, type: string): FieldSpec => ({ name, type });
const msgs = (name: string, type: string): FieldSpec => ({ name, type, repeated: true });

export const MESSAGES = {
  // k8s.io.apimachinery.pkg.runtime
  Unknown: { 1: msg('typeMeta', 'TypeMeta'), 2: { name: 'raw', type: 'bytes' }, 3: str('contentEncoding'), 4: str('contentType') },
  TypeMeta: { 1: str('apiVersion'), 2: str('kind') },
  MapEntry: { 1: str('key'), 2: str('value') },
  // k8s.io.apimachinery.pkg.apis.meta.v1
  ObjectMeta: {
    1: str('name'),
    3: str('namespace'),
    5: str('uid'),
    8: msg('creationTimestamp', 'Time'),
    11: map('labels'),
    12: map('annotations'),
  },
  Time: { 1: { name: 'seconds', type: 'int64' }, 2: int('nanos') },
  // k8s.io.apimachinery.pkg.util.intstr
  IntOrString: { 1: { name: 'type', type: 'int64' }, 2: int('intVal'), 3: str('strVal') },
  // k8s.io.api.core.v1
  Service: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'ServiceSpec'), 3: msg('status', 'ServiceStatus') },
  ServiceSpec: {
    1: msgs('ports', 'ServicePort'),
    2: map('selector'),
    3: str('clusterIP'),
    4: str('type'),
    5: strs('externalIPs'),
    7: str('sessionAffinity'),
    9: strs('loadBalancerSourceRanges'),
    10: str('externalName'),
    11: str('externalTrafficPolicy'),
    12: int('healthCheckNodePort'),
    13: bool('publishNotReadyAddresses'),
    14: msg('sessionAffinityConfig', 'SessionAffinityConfig'),
    17: str('ipFamilyPolicy'),
    18: strs('clusterIPs'),
    19: strs('ipFamilies'),
    20: bool('allocateLoadBalancerNodePorts'),
    22: str('internalTrafficPolicy'),
  },
  ServicePort: { 1: str('name'), 2: str('protocol'), 3: int('port'), 4: msg('targetPort', 'IntOrString'), 5: int('nodePort') },
  SessionAffinityConfig: { 1: msg('clientIP', 'ClientIPConfig') },
  ClientIPConfig: { 1: int('timeoutSeconds') },
  ServiceStatus: { 1: msg('loadBalancer', 'LoadBalancerStatus') },
  LoadBalancerStatus: { 1: msgs('ingress', 'LoadBalancerIngress') },
  LoadBalancerIngress: { 1: str('ip'), 2: str('hostname') },
  Endpoints: { 1: msg('metadata', 'ObjectMeta'), 2: msgs('subsets', 'EndpointSubset') },
  EndpointSubset: {
    1: msgs('addresses', 'EndpointAddress'),
    2: msgs('notReadyAddresses', 'EndpointAddress'),
    3: msgs('ports', 'CoreEndpointPort'),
  },
  EndpointAddress: { 1: str('ip'), 2: msg('targetRef', 'ObjectReference'), 3: str('hostname'), 4: str('nodeName') },
  CoreEndpointPort: { 1: str('name'), 2: int('port'), 3: str('protocol') },
  ObjectReference: { 1: str('kind'), 2: str('namespace'), 3: str('name'), 4: str('uid') },
  Pod: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'PodSpec'), 3: msg('status', 'PodStatus') },
  PodSpec: { 2: msgs('containers', 'Container'), 10: str('nodeName'), 16: str('hostname'), 17: str('subdomain') },
  Container: {
    1: str('name'),
    2: str('image'),
    3: strs('command'),
    4: strs('args'),
    6: msgs('ports', 'ContainerPort'),
    7: msgs('env', 'EnvVar'),
  },
  ContainerPort: { 1: str('name'), 3: int('containerPort'), 4: str('protocol') },
  EnvVar: { 1: str('name'), 2: str('value') },
  PodStatus: { 1: str('phase'), 2: msgs('conditions', 'PodCondition'), 5: str('hostIP'), 6: str('podIP'), 12: msgs('podIPs', 'PodIP') },
  PodCondition: { 1: str('type'), 2: str('status') },
  PodIP: { 1: str('ip') },
  Node: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'NodeSpec'), 3: msg('status', 'NodeStatus') },
  NodeSpec: { 1: str('podCIDR'), 7: strs('podCIDRs') },
  NodeStatus: { 5: msgs('addresses', 'NodeAddress') },
  NodeAddress: { 1: str('type'), 2: str('address') },
  // k8s.io.api.discovery.v1
  EndpointSlice: {
    1: msg('metadata', 'ObjectMeta'),
    2: msgs('endpoints', 'SliceEndpoint'),
    3: msgs('ports', 'SlicePort'),
    4: str('addressType'),
  },
  SliceEndpoint: {
    1: strs('addresses'),
    2: msg('conditions', 'EndpointConditions'),
    3: str('hostname'),
    4: msg('targetRef', 'ObjectReference'),
    6: str('nodeName'),
    7: str('zone'),
    8: msg('hints', 'EndpointHints'),
  },
  EndpointConditions: { 1: bool('ready'), 2: bool('serving'), 3: bool('terminating') },
  EndpointHints: { 1: msgs('forZones', 'ForZone') },
  ForZone: { 1: str('name') },
  SlicePort: { 1: str('name'), 2: str('protocol'), 3: int('port') },
} satisfies Record<string, Fields>;

export type MessageName = keyof typeof MESSAGES;

/** The top-level messages a stored value may hold, by `apiVersion/kind` of its envelope. */
export const STORED_KINDS = {
  'v1/Service': 'Service',
  'v1/Endpoints': 'Endpoints',
  'v1/Pod': 'Pod',
  'v1/Node': 'Node',
  'discovery.k8s.io/v1/EndpointSlice': 'EndpointSlice',
} as const satisfies Record<string, MessageName>;
