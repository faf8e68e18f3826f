import { nodeAddress as nodeObjectAddress, type Node } from '../api/node.js';

/** The node IP keel runs with, and where it came from (for the log line that says so). */
export interface NodeIpChoice {
  ip: string;
  /** The interface it was read from, when it was read from one (the overlay's default underlay then). */
  iface: string | undefined;
  /** `--node-ip`, `--public-ip`, `Node node-1 InternalIP`, `interface eth0`. */
  from: string;
}

export interface NodeIpInputs {
  nodeIp?: string | undefined;
  publicIp?: string | undefined;
  /** This node's Node object as etcd holds it; undefined when there is none (or it could not be read). */
  node?: Node | undefined;
}

/**
 * kube-proxy's order for its node IP: the flag, else the Node object's
 * first InternalIP, then its first ExternalIP (kubelet's GetNodeHostIPs),
 * else — keel's fallback where no apiserver wrote Nodes — the address of
 * the default route's interface (or --iface), as flannel picks it.
 */
export function chooseNodeIp(inputs: NodeIpInputs, detect: () => { iface: string; ip: string }): NodeIpChoice {
  if (inputs.nodeIp) return { ip: inputs.nodeIp, iface: undefined, from: '--node-ip' };
  if (inputs.publicIp) return { ip: inputs.publicIp, iface: undefined, from: '--public-ip' };
  const node = inputs.node;
  if (node) {
    for (const type of ['InternalIP', 'ExternalIP'] as const) {
      const ip = nodeObjectAddress(node, type);
      if (ip) return { ip, iface: undefined, from: `Node ${node.metadata.name} ${type}` };
    }
  }
  const detected = detect();
  return { ip: detected.ip, iface: detected.iface, from: `interface ${detected.iface}` };
}
