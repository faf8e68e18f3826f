import { ipFromValue } from '../api/ip.js';
import { leaseFamilies, readVxlanData, type Lease } from '../overlay/lease.js';
import { podNetworks, type NetworkConfig } from '../overlay/network-config.js';
import { field, section } from './report-text.js';

/** A route or FDB entry as `ip -j route` / `bridge -j fdb` print them, reduced to what identifies it. */
export interface OverlayEntry {
  kind: 'route' | 'fdb';
  /** `10.244.2.0/24 via 10.244.2.0` or `aa:bb:… dst 172.30.0.2`. */
  text: string;
}

export interface NodeReportInput {
  nodeName: string;
  /** The node's IP, or one per family comma-separated (`--node-ip 172.30.0.1,fd00:172:30::1`). */
  nodeIp: string;
  /** undefined: `keel network init` never ran. */
  network: NetworkConfig | undefined;
  leases: readonly Lease[];
  /** The node's kernel, when it was read: keel's routes (proto 0x6b) and the vxlan device's FDB. */
  kernel?: readonly OverlayEntry[];
  agent?: { state: 'healthy' | 'unhealthy' | 'unreachable'; text: string };
}

/** `keel describe node`: its lease, the overlay entries it should hold for every other lease, and what is missing or extra. */
export function describeNode(input: NodeReportInput): string {
  const nodeIps = input.nodeIp.split(',').map((s) => s.trim());
  // An IPv6-only lease's PublicIP is flannel's 0.0.0.0: its PublicIPv6 names the node.
  const own = input.leases.find((l) => leaseFamilies(l).publicIps.some((ip) => nodeIps.includes(ip)));
  const problems: string[] = [];
  const out = [field('Name', input.nodeName), field('Node IP', input.nodeIp)];
  if (!input.network) {
    out.push(field('Network', '<none>'));
    problems.push('no overlay network config in etcd (run `keel network init`)');
  } else {
    const b = input.network.backend;
    out.push(
      field(
        'Network',
        podNetworks(input.network)
          .map((n) => n.text)
          .join(', '),
      ),
      field(
        'Backend',
        `${b.type}${b.type === 'vxlan' ? ` (VNI ${b.vni}, port ${b.port}${b.directRouting ? ', DirectRouting' : ''})` : ''}`,
      ),
    );
  }
  if (own) {
    const f = leaseFamilies(own);
    const publicIps = [own.attrs.publicIp, own.attrs.publicIpv6].flatMap((ip) => (ip && f.publicIps.includes(ip.text) ? [ip] : []));
    out.push(
      field('Subnet', f.subnets.join(', ')),
      field('Lease', `${own.attrs.backendType}, ${publicIps.map((ip) => `PublicIP${ip.family === 6 ? 'v6' : ''} ${ip.text}`).join(', ')}`),
    );
  } else {
    out.push(field('Subnet', '<none>'));
    problems.push(`no subnet lease has PublicIP ${input.nodeIp}: the node's overlay agent has not acquired one (or its lease expired)`);
  }
  if (input.agent)
    out.push(field('Agent', `${input.agent.state === 'healthy' ? 'healthy' : input.agent.state.toUpperCase()}: ${input.agent.text}`));
  const wanted = input.network ? wantedEntries(input.leases, own, input.network) : [];
  const rows = wanted.map((w) => ({
    ...w,
    state: !input.kernel ? 'not read' : input.kernel.some((k) => k.kind === w.kind && k.text === w.text) ? 'present' : 'MISSING',
  }));
  const extra = (input.kernel ?? []).filter((k) => !wanted.some((w) => w.kind === k.kind && w.text === k.text));
  out.push(
    ...section(
      'Other nodes',
      input.leases
        .filter((l) => l !== own)
        .map((l) => {
          const f = leaseFamilies(l);
          return `${f.subnets.join(',').padEnd(18)} ${f.publicIps.join(',').padEnd(15)} ${l.attrs.backendType}`;
        }),
    ),
  );
  out.push(
    ...section(
      'Overlay entries (wanted)',
      rows.length ? rows.map((r) => `${r.kind.padEnd(5)} ${r.text.padEnd(44)} ${r.state}`) : ['<none>'],
    ),
  );
  if (extra.length)
    out.push(
      ...section(
        'In the kernel, not wanted',
        extra.map((e) => `${e.kind.padEnd(5)} ${e.text}`),
      ),
    );
  const missing = rows.filter((r) => r.state === 'MISSING').length;
  if (missing || extra.length) {
    const agent = input.agent ? `; agent ${input.agent.state}: ${input.agent.text}` : '';
    problems.push(
      `the kernel of ${input.nodeName} does not hold the overlay entries keel wants (${missing} missing, ${extra.length} not wanted)${agent}`,
    );
  }
  if (input.agent && input.agent.state !== 'healthy')
    problems.push(`the agent on ${input.nodeName} is ${input.agent.state}: ${input.agent.text}`);
  out.push(...section('Problems', problems.length ? problems.map((p) => `- ${p}`) : ['none found']));
  return `${out.join('\n')}\n`;
}

/** What the backends' plans put in the kernel for each other lease, in the same text `ip`/`bridge` print. */
function wantedEntries(leases: NodeReportInput['leases'], own: Lease | undefined, network: NetworkConfig): OverlayEntry[] {
  const out: OverlayEntry[] = [];
  const others = leases.filter((l) => l !== own).sort((a, b) => (a.subnet.first < b.subnet.first ? -1 : 1));
  for (const l of others) {
    // Each family the network runs and the lease has: its subnet via its public address (host-gw) or the VTEP (vxlan).
    const halves = [
      ...(network.enableIPv4 ? [{ family: 4 as const, subnet: l.subnet, publicIp: l.attrs.publicIp }] : []),
      ...(network.ipv6 && l.ipv6Subnet && l.attrs.publicIpv6
        ? [{ family: 6 as const, subnet: l.ipv6Subnet, publicIp: l.attrs.publicIpv6 }]
        : []),
    ];
    for (const h of halves) {
      if (network.backend.type === 'host-gw') {
        out.push({ kind: 'route', text: `${h.subnet.text} via ${h.publicIp.text}` });
      } else if (network.backend.type === 'vxlan') {
        const data = readVxlanData(l, h.family);
        out.push({ kind: 'route', text: `${h.subnet.text} via ${ipFromValue(h.family, h.subnet.first).text}` });
        if (data) out.push({ kind: 'fdb', text: `${data.vtepMac} dst ${h.publicIp.text}` });
      }
    }
  }
  return out;
}
