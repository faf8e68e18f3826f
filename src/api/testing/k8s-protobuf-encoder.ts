import protobuf from 'protobufjs';

/**
 * Encodes objects as kube-apiserver stores them, for tests: a proto2
 * description written from the public generated.proto files (k8s.io/api
 * core/v1 and discovery/v1, k8s.io/apimachinery meta/v1, runtime, intstr),
 * encoded by protobufjs' reflection. It shares nothing with keel's decoder
 * (its own schema table and wire walker), so a wrong field number on either
 * side fails the round trip. It holds more fields than keel reads (marked
 * "skipped") so the decoder's skipping of unknown fields is exercised too.
 */
const PROTO = `
syntax = "proto2";
package k8s;

message Unknown { optional TypeMeta typeMeta = 1; optional bytes raw = 2; optional string contentEncoding = 3; optional string contentType = 4; }
message TypeMeta { optional string apiVersion = 1; optional string kind = 2; }

message Time { optional int64 seconds = 1; optional int32 nanos = 2; }
message OwnerReference { optional string apiVersion = 5; optional string kind = 1; optional string name = 3; optional string uid = 4; optional bool controller = 6; }
message ObjectMeta {
  optional string name = 1; optional string generateName = 2; optional string namespace = 3; optional string uid = 5;
  optional string resourceVersion = 6; optional int64 generation = 7; optional Time creationTimestamp = 8;
  map<string, string> labels = 11; map<string, string> annotations = 12;
  repeated OwnerReference ownerReferences = 13; repeated string finalizers = 14;
}
message IntOrString { optional int64 type = 1; optional int32 intVal = 2; optional string strVal = 3; }

message Service { optional ObjectMeta metadata = 1; optional ServiceSpec spec = 2; optional ServiceStatus status = 3; }
message ServiceSpec {
  repeated ServicePort ports = 1; map<string, string> selector = 2; optional string clusterIP = 3; repeated string clusterIPs = 18;
  optional string type = 4; repeated string externalIPs = 5; optional string sessionAffinity = 7; optional string loadBalancerIP = 8;
  repeated string loadBalancerSourceRanges = 9; optional string externalName = 10; optional string externalTrafficPolicy = 11;
  optional int32 healthCheckNodePort = 12; optional bool publishNotReadyAddresses = 13;
  optional SessionAffinityConfig sessionAffinityConfig = 14; repeated string ipFamilies = 19; optional string ipFamilyPolicy = 17;
  optional bool allocateLoadBalancerNodePorts = 20; optional string loadBalancerClass = 21; optional string internalTrafficPolicy = 22;
}
message ServicePort { optional string name = 1; optional string protocol = 2; optional string appProtocol = 6; optional int32 port = 3; optional IntOrString targetPort = 4; optional int32 nodePort = 5; }
message SessionAffinityConfig { optional ClientIPConfig clientIP = 1; }
message ClientIPConfig { optional int32 timeoutSeconds = 1; }
message ServiceStatus { optional LoadBalancerStatus loadBalancer = 1; }
message LoadBalancerStatus { repeated LoadBalancerIngress ingress = 1; }
message LoadBalancerIngress { optional string ip = 1; optional string hostname = 2; optional string ipMode = 3; }

message Endpoints { optional ObjectMeta metadata = 1; repeated EndpointSubset subsets = 2; }
message EndpointSubset { repeated EndpointAddress addresses = 1; repeated EndpointAddress notReadyAddresses = 2; repeated EndpointPort ports = 3; }
message EndpointAddress { optional string ip = 1; optional string hostname = 3; optional string nodeName = 4; optional ObjectReference targetRef = 2; }
message EndpointPort { optional string name = 1; optional int32 port = 2; optional string protocol = 3; optional string appProtocol = 4; }
message ObjectReference { optional string kind = 1; optional string namespace = 2; optional string name = 3; optional string uid = 4; optional string apiVersion = 5; optional string resourceVersion = 6; }

message Pod { optional ObjectMeta metadata = 1; optional PodSpec spec = 2; optional PodStatus status = 3; }
message PodSpec {
  repeated Container containers = 2; optional string restartPolicy = 3; optional int64 terminationGracePeriodSeconds = 4;
  optional string nodeName = 10; optional bool hostNetwork = 11; optional string hostname = 16; optional string subdomain = 17;
}
message Container { optional string name = 1; optional string image = 2; repeated string command = 3; repeated string args = 4; optional string workingDir = 5; repeated ContainerPort ports = 6; repeated EnvVar env = 7; }
message ContainerPort { optional string name = 1; optional int32 hostPort = 2; optional int32 containerPort = 3; optional string protocol = 4; optional string hostIP = 5; }
message EnvVar { optional string name = 1; optional string value = 2; }
message PodStatus { optional string phase = 1; repeated PodCondition conditions = 2; optional string message = 3; optional string hostIP = 5; optional string podIP = 6; repeated PodIP podIPs = 12; optional string qosClass = 9; }
message PodCondition { optional string type = 1; optional string status = 2; optional Time lastTransitionTime = 4; optional string reason = 5; }
message PodIP { optional string ip = 1; }

message Node { optional ObjectMeta metadata = 1; optional NodeSpec spec = 2; optional NodeStatus status = 3; }
message NodeSpec { optional string podCIDR = 1; repeated string podCIDRs = 7; optional string providerID = 3; optional bool unschedulable = 4; }
message NodeStatus { optional string phase = 3; repeated NodeAddress addresses = 5; repeated string volumesInUse = 9; }
message NodeAddress { optional string type = 1; optional string address = 2; }

message EndpointSlice { optional ObjectMeta metadata = 1; optional string addressType = 4; repeated Endpoint endpoints = 2; repeated SlicePort ports = 3; }
message Endpoint {
  repeated string addresses = 1; optional EndpointConditions conditions = 2; optional string hostname = 3; optional ObjectReference targetRef = 4;
  map<string, string> deprecatedTopology = 5; optional string nodeName = 6; optional string zone = 7; optional EndpointHints hints = 8;
}
message EndpointConditions { optional bool ready = 1; optional bool serving = 2; optional bool terminating = 3; }
message EndpointHints { repeated ForZone forZones = 1; }
message ForZone { optional string name = 1; }
message SlicePort { optional string name = 1; optional string protocol = 2; optional int32 port = 3; optional string appProtocol = 4; }
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;

export type EncodableKind = 'Service' | 'Endpoints' | 'Pod' | 'Node' | 'EndpointSlice';

/**
 * `k8s\0` + runtime.Unknown{typeMeta, raw}, as kube-apiserver's storage writes a JSON-shaped object;
 * `envelope` overrides the typeMeta (the body stays the object's own kind).
 */
export function encodeK8sProtobuf(object: Record<string, unknown>, envelope: { apiVersion?: string; kind?: string } = {}): Buffer {
  const kind = envelope.kind ?? (object.kind as EncodableKind);
  const apiVersion = envelope.apiVersion ?? (object.apiVersion as string);
  const type = root.lookupType(`k8s.${object.kind as EncodableKind}`);
  const { apiVersion: _a, kind: _k, ...body } = object;
  const raw = type.encode(toProto(type, body)).finish();
  const unknown = root.lookupType('k8s.Unknown');
  const bytes = unknown.encode(unknown.fromObject({ typeMeta: { apiVersion, kind }, raw, contentEncoding: '', contentType: '' })).finish();
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), bytes]);
}

/** JSON's spellings into protobuf messages: IntOrString from a number or a string, Time from RFC 3339. */
function toProto(type: protobuf.Type, value: Record<string, unknown>): protobuf.Message {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) {
    const field = type.fields[name];
    if (!field) throw new Error(`the test schema's ${type.name} has no field ${name}`);
    field.resolve();
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const convert = (x: unknown): unknown => {
      if (sub?.name === 'IntOrString') return typeof x === 'number' ? { type: 0, intVal: x } : { type: 1, strVal: x };
      if (sub?.name === 'Time') return { seconds: Math.floor(Date.parse(String(x)) / 1000) };
      return sub && !field.map ? toProto(sub, x as Record<string, unknown>) : x;
    };
    out[name] = field.repeated ? (v as unknown[]).map(convert) : convert(v);
  }
  return type.fromObject(out);
}
