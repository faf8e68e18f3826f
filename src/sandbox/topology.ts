import { addAddress, addBridge, addVethPair, createNetns, ip, linkUp, setMaster, setSysctl } from './netns.js';
import { underlayCidr, underlayIps, type SandboxState } from './sandbox-state.js';

export interface TopologyReport {
  /** Sysctls a namespace lacked (bridge-nf-call-iptables without br_netfilter). */
  missingSysctls: string[];
}

/**
 * The underlay: one bridge in the switch namespace, and every node, etcd
 * member and the external client attached to it by a veth pair (eth0 on
 * their side). Idempotent, so a second `keel up` or a retry converges.
 */
export async function buildTopology(state: SandboxState): Promise<TopologyReport> {
  await createNetns(state.switchNetns);
  await addBridge(state.switchNetns, state.bridge);
  // The switch forwards frames; it must not run them through its own iptables.
  await setSysctl(state.switchNetns, 'net.bridge.bridge-nf-call-iptables', '0');
  const members = [
    ...state.nodes.map((n) => ({ netns: n.netns, ips: underlayIps(n), port: n.name.replace('node-', 'n') })),
    ...state.etcd.members.map((m) => ({ netns: m.netns, ips: [m.ip], port: m.name })),
    { netns: state.client.netns, ips: underlayIps(state.client), port: 'client' },
  ];
  const missing = new Set<string>();
  await Promise.all(
    members.map(async (m) => {
      await createNetns(m.netns);
      await addVethPair({ netns: state.switchNetns, name: m.port }, { netns: m.netns, name: 'eth0' });
      await setMaster(state.switchNetns, m.port, state.bridge);
      await linkUp(state.switchNetns, m.port);
      for (const ip of m.ips) await addAddress(m.netns, 'eth0', underlayCidr(ip));
      await linkUp(m.netns, 'eth0');
    }),
  );
  for (const node of state.nodes) {
    // Nodes need a route for service addresses before DNAT picks the endpoint, as real nodes have
    // through their default gateway; the underlay has no gateway, so the default route is on-link.
    const families = underlayIps(node).map((a) => (a.includes(':') ? '-6' : '-4'));
    for (const f of families) await ip([f, 'route', 'replace', 'default', 'dev', 'eth0'], node.netns);
    await setSysctl(node.netns, 'net.ipv4.ip_forward', '1');
    await setSysctl(node.netns, 'net.ipv4.conf.all.route_localnet', '1');
    if (families.includes('-6')) await setSysctl(node.netns, 'net.ipv6.conf.all.forwarding', '1');
    // Pods answering their own service through the bridge need bridged frames in iptables.
    if (!(await setSysctl(node.netns, 'net.bridge.bridge-nf-call-iptables', '1'))) missing.add('net.bridge.bridge-nf-call-iptables');
    if (families.includes('-6') && !(await setSysctl(node.netns, 'net.bridge.bridge-nf-call-ip6tables', '1')))
      missing.add('net.bridge.bridge-nf-call-ip6tables');
  }
  return { missingSysctls: [...missing] };
}
