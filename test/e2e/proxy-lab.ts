import type { Endpoints } from '../../src/api/endpoints.js';
import type { Service } from '../../src/api/service.js';
import { makeEndpoints, makeService } from '../../src/api/testing/object-builders.js';
import { NetnsLab, sh } from './proxy-iptables-lab.js';
import { Traffic } from './proxy-iptables-traffic.js';

/**
 * The topology the iptables and nftables proxy suites share.
 *
 * Address plan (run suffix R keeps parallel runs apart; P is the lab's prefix):
 *   P-R-node  node: 172.30.0.1/24 to P-R-ext, 10.244.{1,2,3}.1/24 to the pods; forwards; default via 172.30.0.2
 *   P-R-ext   external client 172.30.0.2/24
 *   P-R-p1    backend pod 10.244.1.2 (node "node-1"), answers "p1" on TCP 8080 and UDP 5353
 *   P-R-p2    backend pod 10.244.2.2 (node "node-1", or "node-2" where a test says), answers "p2"
 *   P-R-c     client pod 10.244.3.2
 * Services: web 10.96.0.10 (http 80→8080/TCP NodePort 30080, dns 53→5353/UDP NodePort 30053),
 *           sticky 10.96.0.30 (ClientIP affinity), empty 10.96.0.20 (no endpoints).
 * With `dualStack`, every address above gains its IPv6 twin (ULA only): node fd00:172:30::1/64 to ext
 * fd00:172:30::2 (the default route), fd00:10:244:N::1/64 to pod N at fd00:10:244:N::2; IPv6 forwarding on.
 */
export class ProxyLab {
  readonly lab: NetnsLab;
  readonly traffic: Traffic;
  readonly ns = { node: '', ext: '', p1: '', p2: '', c: '' };

  constructor(
    prefix?: string,
    private readonly opts: { dualStack?: boolean } = {},
  ) {
    this.lab = new NetnsLab(prefix);
    this.traffic = new Traffic(this.lab.run);
  }

  async setup(): Promise<void> {
    const { ns, lab } = this;
    ns.node = await lab.netns('node');
    ns.ext = await lab.netns('ext');
    const x = lab.link('x');
    await sh('ip', ['-n', ns.node, 'link', 'add', x, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.ext]);
    await sh('ip', ['-n', ns.node, 'addr', 'add', '172.30.0.1/24', 'dev', x]);
    await sh('ip', ['-n', ns.node, 'link', 'set', x, 'up']);
    await sh('ip', ['-n', ns.ext, 'addr', 'add', '172.30.0.2/24', 'dev', 'eth0']);
    await sh('ip', ['-n', ns.ext, 'link', 'set', 'eth0', 'up']);
    await sh('ip', ['-n', ns.node, 'route', 'add', 'default', 'via', '172.30.0.2']);
    await lab.exec(ns.node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    if (this.opts.dualStack) {
      await this.addr6(ns.node, 'fd00:172:30::1/64', x);
      await this.addr6(ns.ext, 'fd00:172:30::2/64', 'eth0');
      await sh('ip', ['-n', ns.node, '-6', 'route', 'add', 'default', 'via', 'fd00:172:30::2']);
      await lab.exec(ns.node, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    }
    await this.pod('p1', 1);
    await this.pod('p2', 2);
    await this.pod('c', 3);
    await this.traffic.serve(ns.p1, 'p1', 8080, 5353);
    await this.traffic.serve(ns.p2, 'p2', 8080, 5353);
  }

  async destroy(): Promise<void> {
    await this.traffic.stop();
    await this.lab.destroy();
  }

  private async pod(role: 'p1' | 'p2' | 'c', subnet: number): Promise<void> {
    const { ns, lab } = this;
    ns[role] = await lab.netns(role);
    const link = lab.link(role);
    await sh('ip', ['-n', ns.node, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[role]]);
    await sh('ip', ['-n', ns.node, 'addr', 'add', `10.244.${subnet}.1/24`, 'dev', link]);
    await sh('ip', ['-n', ns.node, 'link', 'set', link, 'up']);
    await sh('ip', ['-n', ns[role], 'addr', 'add', `10.244.${subnet}.2/24`, 'dev', 'eth0']);
    await sh('ip', ['-n', ns[role], 'link', 'set', 'eth0', 'up']);
    await sh('ip', ['-n', ns[role], 'route', 'add', 'default', 'via', `10.244.${subnet}.1`]);
    if (!this.opts.dualStack) return;
    await this.addr6(ns.node, `fd00:10:244:${subnet}::1/64`, link);
    await this.addr6(ns[role], `fd00:10:244:${subnet}::2/64`, 'eth0');
    await sh('ip', ['-n', ns[role], '-6', 'route', 'add', 'default', 'via', `fd00:10:244:${subnet}::1`]);
  }

  /** No duplicate address detection: the address is usable at once. */
  private async addr6(netns: string, cidr: string, dev: string): Promise<void> {
    await sh('ip', ['-n', netns, '-6', 'addr', 'add', cidr, 'dev', dev, 'nodad']);
  }
}

const web = makeService('default', 'web', (s) => {
  s.type = 'NodePort';
  s.clusterIP = '10.96.0.10';
  s.ports = [
    { name: 'http', port: 80, targetPort: 'http', nodePort: 30080 },
    { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP', nodePort: 30053 },
  ];
});
const sticky = makeService('default', 'sticky', (s) => {
  s.clusterIP = '10.96.0.30';
  s.ports = [{ port: 80, targetPort: 8080 }];
  s.sessionAffinity = 'ClientIP';
});
const empty = makeService('default', 'empty', (s) => {
  s.clusterIP = '10.96.0.20';
  s.ports = [{ port: 80 }];
});
export const labServices: Service[] = [web, sticky, empty];

/** web's and sticky's endpoints at these pod addresses, all on node-1. */
export function backends(ips: string[]): Endpoints[] {
  return [
    makeEndpoints(
      'default',
      'web',
      ips.map((ip) => ({ ip, node: 'node-1' })),
      [
        { name: 'http', port: 8080 },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
    ),
    makeEndpoints(
      'default',
      'sticky',
      ips.map((ip) => ({ ip, node: 'node-1' })),
      [{ port: 8080 }],
    ),
  ];
}
