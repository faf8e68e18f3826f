import { ConfigError } from '../api/errors.js';
import { parseIp, type IpFamily } from '../api/ip.js';
import { nodeAddress as nodeObjectAddress, type Node } from '../api/node.js';

/** The node IPs keel runs with, and where they came from (for the log line that says so). */
export interface NodeIpChoice {
  /** One address per family the node has, the primary first (kubelet's --node-ip order). */
  ips: string[];
  /** The interface it was read from, when it was read from one (the overlay's default underlay then). */
  iface: string | undefined;
  /** `--node-ip`, `--public-ip`, `Node node-1 InternalIP`, `interface eth0`. */
  from: string;
}

export interface NodeIpInputs {
  /** `--node-ip` as given: one address, or a dual-stack pair `172.30.0.2,fd00:172:30::2`. */
  nodeIp?: string | undefined;
  publicIp?: string | undefined;
  /** This node's Node object as etcd holds it; undefined when there is none (or it could not be read). */
  node?: Node | undefined;
}

/**
 * kube-proxy's order for its node IPs: the flag, else the Node object's
 * first InternalIP, then its first ExternalIP, and the first of the other
 * family beside it (kubelet's GetNodeHostIPs), else — keel's fallback where
 * no apiserver wrote Nodes — the address of the default route's interface
 * (or --iface), as flannel picks it.
 */
export function chooseNodeIp(inputs: NodeIpInputs, detect: () => { iface: string; ip: string }): NodeIpChoice {
  if (inputs.nodeIp) return { ips: parseNodeIps(inputs.nodeIp), iface: undefined, from: '--node-ip' };
  if (inputs.publicIp) return { ips: [inputs.publicIp], iface: undefined, from: '--public-ip' };
  const node = inputs.node;
  if (node) {
    for (const type of ['InternalIP', 'ExternalIP'] as const) {
      const ip = nodeObjectAddress(node, type);
      if (!ip) continue;
      const other: IpFamily = parseIp(ip)?.family === 6 ? 4 : 6;
      const second = nodeObjectAddress(node, 'InternalIP', other) ?? nodeObjectAddress(node, 'ExternalIP', other);
      return { ips: second ? [ip, second] : [ip], iface: undefined, from: `Node ${node.metadata.name} ${type}` };
    }
  }
  const detected = detect();
  return { ips: [detected.ip], iface: detected.iface, from: `interface ${detected.iface}` };
}

/** kubelet's --node-ip: one IP, or two of different families; the first is the primary. */
export function parseNodeIps(text: string): string[] {
  const parts = text.split(',').map((s) => s.trim());
  const ips = parts.map((p) => parseIp(p));
  if (ips.some((ip) => ip === undefined))
    throw new ConfigError('--node-ip', `${JSON.stringify(text)} is not an IP address or a comma-separated pair`);
  if (ips.length > 2 || (ips.length === 2 && ips[0]?.family === ips[1]?.family)) {
    throw new ConfigError('--node-ip', `${JSON.stringify(text)} must be a single IP or a dual-stack pair (one IPv4, one IPv6)`);
  }
  return ips.map((ip) => ip!.text);
}

/** The node IP of one family, if the node has one. */
export function nodeIpOf(ips: readonly string[], family: IpFamily): string | undefined {
  return ips.find((ip) => parseIp(ip)?.family === family);
}
