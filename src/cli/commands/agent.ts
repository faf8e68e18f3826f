import type { Command } from 'commander';
import { addEtcdOptions, addSubnetSourceOption, keelOption, parseDuration, parseIntFlag } from '../options.js';
import { DEFAULT_SERVICE_RANGE } from '../ipam-flags.js';
import { addEndpointsSourceOption } from '../endpoints-source-flag.js';
import { addUnderlayOptions } from '../overlay-flags.js';
import { dnsWorkersOption, podRecordsOption } from '../dns-flags.js';
import { lazy } from './lazy.js';

export function registerAgent(program: Command): void {
  const cmd = program
    .command('agent')
    .description('run on a node: proxy (iptables|userspace), overlay (vxlan|udp|host-gw) and cluster DNS, with /metrics and /healthz')
    .addOption(keelOption('--config <file>', 'YAML file of flag values (keys are flag names); flags and KEEL_* win over it'))
    .addOption(keelOption('--subnet-prefix <prefix>', 'overlay prefix in etcd', '/coreos.com/network'))
    .addOption(keelOption('--node-name <name>', "this node's name [default: the hostname]"))
    .addOption(
      keelOption(
        '--node-ip <ips>',
        "this node's IP for rules, or one per family (172.30.0.2,fd00:172:30::2) [default: its Node object's InternalIPs, else the address of --iface]",
      ),
    )
    .addOption(
      keelOption('--cluster-cidr <cidrs>', 'pod network(s), one per family comma-separated, for masquerade decisions', '10.244.0.0/16'),
    )
    .addOption(keelOption('--service-cluster-ip-range <cidrs>', 'service range (DNS reverse zones)', DEFAULT_SERVICE_RANGE))
    .addOption(keelOption('--proxy-mode <mode>', 'iptables, nftables, userspace or none', 'iptables'))
    .addOption(
      keelOption(
        '--iptables-sync-period <duration>',
        'periodic sync: checks the canary chains (a full resync reads the kernel at most hourly and after failures)',
        30_000,
        '30s',
      ).argParser(parseDuration('--iptables-sync-period')),
    )
    .addOption(
      keelOption('--iptables-min-sync-period <duration>', 'minimum time between syncs', 0, '0s').argParser(
        parseDuration('--iptables-min-sync-period'),
      ),
    )
    .addOption(keelOption('--proxy-port-range <range>', 'userspace proxy ports, e.g. 40000-40999 [default: any free port]'))
    .addOption(
      keelOption('--udp-timeout <duration>', 'userspace UDP association idle timeout', 250, '250ms').argParser(
        parseDuration('--udp-timeout'),
      ),
    )
    .addOption(
      keelOption(
        '--userspace-relay <relay>',
        "who moves the userspace proxy's TCP bytes: native (one thread, epoll and recv/send) or node (Node.js sockets)",
        'native',
      ),
    )
    .addOption(keelOption('--backend <type>', 'overlay backend on this node: vxlan, udp, host-gw or none', 'none'))
    .addOption(keelOption('--no-dns', 'do not serve cluster DNS'))
    .addOption(
      keelOption('--dns-listen <addrs>', 'DNS listen address(es), one per family comma-separated [default: port 53 on each --node-ip]'),
    )
    .addOption(keelOption('--cluster-domain <zone>', 'cluster DNS zone', 'cluster.local'))
    .addOption(keelOption('--dns-ttl <seconds>', 'TTL of cluster records', 5).argParser(parseIntFlag('--dns-ttl', 0, 86_400)))
    .addOption(dnsWorkersOption())
    .addOption(keelOption('--upstream <addrs>', 'resolvers for names outside the zone [default: /etc/resolv.conf]'))
    .addOption(podRecordsOption())
    .addOption(keelOption('--metrics-bind-address <addr>', '/metrics, /healthz, /readyz', '127.0.0.1:10249'))
    .addOption(
      keelOption(
        '--healthz-bind-address <addr>',
        "kube-proxy's /healthz and /livez for load balancers and probes (with a proxy mode)",
        '0.0.0.0:10256',
      ),
    )
    .addOption(
      keelOption(
        '--nodeport-addresses <cidrs>',
        'NodePorts only on local addresses in these CIDRs, or "primary" for --node-ip (iptables and nftables modes; userspace mode ignores it, as kube-proxy did) [default: every local address, 127.0.0.1 included]',
      ),
    );
  addUnderlayOptions(cmd);
  addEndpointsSourceOption(cmd);
  addSubnetSourceOption(cmd);
  addEtcdOptions(cmd).action(lazy(async () => (await import('../agent.js')).runAgentCommand));
}
