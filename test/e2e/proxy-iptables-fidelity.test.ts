/**
 * kube-proxy (iptables mode) behaviours a user would notice, in a real
 * kernel. Each test names the kube-proxy code it holds keel to
 * (kubernetes pkg/proxy/iptables/proxier.go unless said otherwise).
 *
 * Address plan (run suffix R):
 *   kp-R-node  node: 172.30.0.1/24 to kp-R-ext, 172.30.2.1/24 on a second link (kp-R-far side),
 *              10.244.1.1/24 to the pod; route_localnet=1 (as keel's sandbox sets it); forwards
 *   kp-R-ext   external client 172.30.0.2/24; routes 10.244.0.0/16, 172.30.1.0/24 and 127.0.0.0/8 via the node
 *   kp-R-far   172.30.2.2/24, the second link's peer
 *   kp-R-p1    pod 10.244.1.2 (node "node-1"), answers "p1" on TCP 8080 / UDP 5353
 * Services: web 10.96.0.10:80 NodePort 30080;
 *           fenced LoadBalancer 10.96.0.50:80, LB IP 172.30.1.150 (local on the node), sourceRanges 172.30.0.1/32,
 *           externalTrafficPolicy Local, healthCheckNodePort 30050, allocateLoadBalancerNodePorts false
 *           (range and LB IP written with spaces and leading zeros, as kube-proxy accepts them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreRunner } from '../../src/kernel/iptables/restore-runner.js';
import { setLogSink } from '../../src/observe/log.js';
import { DEFAULT_MASQUERADE_BIT, type NodeConfig } from '../../src/proxy-iptables/compile.js';
import { SyncLoop } from '../../src/proxy-iptables/sync-loop.js';
import { makeEndpoints, makeService, snapshotOf } from '../../src/api/testing/object-builders.js';
import { link, NetnsLab, sh } from './proxy-iptables-lab.js';
import { Traffic } from './proxy-iptables-traffic.js';

const lab = new NetnsLab();
const traffic = new Traffic(lab.run);
const ns = { node: '', ext: '', far: '', p1: '' };
setLogSink({ write: () => undefined });

const web = makeService('default', 'web', (s) => {
  s.type = 'NodePort';
  s.clusterIP = '10.96.0.10';
  s.ports = [{ port: 80, targetPort: 8080, nodePort: 30080 }];
});
const fenced = makeService('default', 'fenced', (s, raw) => {
  s.type = 'LoadBalancer';
  s.clusterIP = '10.96.0.50';
  s.externalTrafficPolicy = 'Local';
  s.healthCheckNodePort = 30050;
  s.allocateLoadBalancerNodePorts = false;
  // Written sloppily, as kube-proxy accepts it (TrimSpace, ParseIPSloppy): 172.30.0.1/32 and 172.30.1.150.
  s.loadBalancerSourceRanges = [' 172.030.000.001/32 '];
  s.ports = [{ port: 80, targetPort: 8080 }];
  raw.status = { loadBalancer: { ingress: [{ ip: '172.030.001.150' }] } };
});
const snapshot = snapshotOf(
  [web, fenced],
  [
    makeEndpoints('default', 'web', [{ ip: '10.244.1.2', node: 'node-1' }], [{ port: 8080 }]),
    makeEndpoints('default', 'fenced', [{ ip: '10.244.1.2', node: 'node-1' }], [{ port: 8080 }]),
  ],
);
const baseNode: NodeConfig = {
  nodeName: 'node-1',
  nodeIPs: ['172.30.0.1'],
  clusterCidr: '10.244.0.0/16',
  masqueradeBit: DEFAULT_MASQUERADE_BIT,
};

/** Programs the node as an agent with `node` would (a full sync into fresh chains). */
async function program(node: NodeConfig): Promise<void> {
  const runner = new RestoreRunner({ backend: 'nft', netns: ns.node });
  const loop = new SyncLoop({ runner, node });
  loop.update(snapshot, { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
  await loop.sync();
}

/** Packets counted on the first rule of `chain` whose text contains `needle`. */
async function counter(table: string, chain: string, needle: string): Promise<number> {
  const save = await lab.exec(ns.node, 'iptables-nft-save', ['-c', '-t', table]);
  const line = save.split('\n').find((l) => l.includes(`-A ${chain} `) && l.includes(needle));
  return Number(/^\[(\d+):/.exec(line ?? '')?.[1] ?? -1);
}

/** The first datagram a UDP socket bound to 127.0.0.1:9999 in the node receives. */
async function localhostReceiver(): Promise<{ received: Promise<string> }> {
  const script = `const d=require('dgram').createSocket('udp4');d.on('message',(m)=>{console.log(JSON.stringify(String(m)));d.close();});d.bind(9999,'127.0.0.1',()=>console.log('ready'));`;
  const { execa } = await import('execa');
  const p = execa('ip', ['netns', 'exec', ns.node, process.execPath, '-e', script], { timeout: 20_000 });
  await new Promise<void>((resolve) => p.stdout?.once('data', () => resolve()));
  return { received: p.then((r) => JSON.parse(r.stdout.split('\n')[1] ?? '""') as string) };
}

const sendUdp = (from: string, host: string, text: string) =>
  lab.exec(from, process.execPath, ['-e', `const d=require('dgram').createSocket('udp4');d.send('${text}',9999,'${host}',()=>d.close());`]);

beforeAll(async () => {
  ns.node = await lab.netns('node');
  ns.ext = await lab.netns('ext');
  ns.far = await lab.netns('far');
  ns.p1 = await lab.netns('p1');
  await link(ns.node, ns.ext, `kp${lab.run}x`, '172.30.0.1/24', '172.30.0.2/24');
  await link(ns.node, ns.far, `kp${lab.run}f`, '172.30.2.1/24', '172.30.2.2/24');
  await link(ns.node, ns.p1, `kp${lab.run}p`, '10.244.1.1/24', '10.244.1.2/24');
  await sh('ip', ['-n', ns.p1, 'route', 'add', 'default', 'via', '10.244.1.1']);
  await sh('ip', ['-n', ns.far, 'route', 'add', 'default', 'via', '172.30.2.1']);
  // The LB IP is bound on the node, as VIP-style load balancers do (the case kube-proxy's allowFromNode is for).
  await sh('ip', ['-n', ns.node, 'addr', 'add', '172.30.1.150/32', 'dev', 'lo']);
  for (const dst of ['10.244.0.0/16', '172.30.1.0/24']) await sh('ip', ['-n', ns.ext, 'route', 'add', dst, 'via', '172.30.0.1']);
  // The external host sends to 127.0.0.0/8 on the wire: the CVE-2020-8558 attacker.
  for (const local of ['127.0.0.0/8', '127.0.0.1']) await sh('ip', ['-n', ns.ext, 'route', 'del', 'table', 'local', local, 'dev', 'lo']);
  await sh('ip', ['-n', ns.ext, 'route', 'add', '127.0.0.0/8', 'via', '172.30.0.1', 'src', '172.30.0.2']);
  await lab.exec(ns.ext, 'sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1', 'net.ipv4.conf.eth0.route_localnet=1']);
  await lab.exec(ns.node, 'sysctl', [
    '-qw',
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.route_localnet=1',
    `net.ipv4.conf.kp${lab.run}x.route_localnet=1`,
  ]);
  await traffic.serve(ns.p1, 'p1', 8080, 5353);
  await program(baseNode);
});

afterAll(async () => {
  await traffic.stop();
  await lab.destroy();
});

describe('kube-proxy fidelity in a real kernel', () => {
  // proxier.go syncProxyRules: "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP" first (kubernetes#74839).
  it('drops a conntrack-INVALID packet in KUBE-FORWARD before it reaches the pod', async () => {
    // Without loose pickup a bare ACK belongs to no connection: conntrack calls it INVALID.
    await lab.exec(ns.node, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_loose=0']);
    const before = await counter('filter', 'KUBE-FORWARD', '--ctstate INVALID -j DROP');
    expect(before).toBe(0);
    const ack = [
      'import socket,struct',
      's=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_TCP)',
      // source port, dest port, seq, ack, offset 5 words, flags ACK, window, checksum 0 (the pod never validates: the packet must not get there)
      "s.sendto(struct.pack('!HHIIBBHHH',40000,8080,1,1,5<<4,0x10,1024,0,0),('10.244.1.2',0))",
    ].join('\n');
    for (let i = 0; i < 3; i++) await lab.exec(ns.ext, 'python3', ['-c', ack]);
    await expect.poll(() => counter('filter', 'KUBE-FORWARD', '--ctstate INVALID -j DROP'), { interval: 100, timeout: 5000 }).toBe(3);
    await lab.exec(ns.node, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_loose=1']);
  });

  // proxier.go syncProxyRules (kubeletFirewallChain) + iptablesKubeletJumpChains: CVE-2020-8558.
  it('blocks packets from the wire to 127.0.0.0/8 while route_localnet is on, and lets the node itself through', async () => {
    const rx = await localhostReceiver();
    await sendUdp(ns.ext, '127.0.0.1', 'from-outside');
    await expect
      .poll(() => counter('filter', 'KUBE-FIREWALL', 'block incoming localnet connections'), { interval: 100, timeout: 5000 })
      .toBe(1);
    await sendUdp(ns.node, '127.0.0.1', 'from-the-node');
    expect(await rx.received).toBe('from-the-node');
  });

  // NewProxier: --nodeport-addresses without a loopback address means no localhost NodePorts, and no guard.
  it('without the guard (nodeport-addresses excluding loopback) the same packet reaches a localhost socket', async () => {
    await program({ ...baseNode, nodePortAddresses: ['172.30.0.1'] });
    try {
      const rx = await localhostReceiver();
      await sendUdp(ns.ext, '127.0.0.1', 'from-outside');
      expect(await rx.received).toBe('from-outside');
    } finally {
      await program(baseNode);
    }
  });

  // "tail-call to the nodePorts chain": NodePorts on every local address by default, localhost included.
  it('answers a NodePort on every node address and on 127.0.0.1 by default', async () => {
    expect(await traffic.call(ns.ext, '172.30.0.1', 30080, 'tcp', 3)).toEqual({ answers: { p1: 3 }, errors: {} });
    expect(await traffic.call(ns.far, '172.30.2.1', 30080, 'tcp', 3)).toEqual({ answers: { p1: 3 }, errors: {} });
    expect(await traffic.call(ns.node, '127.0.0.1', 30080, 'tcp', 3)).toEqual({ answers: { p1: 3 }, errors: {} });
  });

  it('answers a NodePort only on the --nodeport-addresses of the node', async () => {
    await program({ ...baseNode, nodePortAddresses: ['172.30.0.1'] });
    try {
      expect(await traffic.call(ns.ext, '172.30.0.1', 30080, 'tcp', 3)).toEqual({ answers: { p1: 3 }, errors: {} });
      expect(await traffic.call(ns.far, '172.30.2.1', 30080, 'tcp', 3)).toEqual({ answers: {}, errors: { ECONNREFUSED: 3 } });
      expect(await traffic.call(ns.node, '127.0.0.1', 30080, 'tcp', 3)).toEqual({ answers: {}, errors: { ECONNREFUSED: 3 } });
    } finally {
      await program(baseNode);
    }
  });

  // Firewall chain, allowFromNode: a source range holding the node IP lets the node reach its own LB IP.
  it('lets the node reach a firewalled LB IP bound locally, and drops an outside client not in the ranges', async () => {
    expect(await traffic.call(ns.node, '172.30.1.150', 80, 'tcp', 3)).toEqual({ answers: { p1: 3 }, errors: {} });
    const outside = await traffic.call(ns.ext, '172.30.1.150', 80, 'tcp', 1);
    expect(outside).toEqual({ answers: {}, errors: { ETIMEDOUT: 1 } });
    // Without a node IP in the ranges the loop-back case is dropped like anyone else.
    await program({ ...baseNode, nodeIPs: ['172.30.9.9'] });
    try {
      expect(await traffic.call(ns.node, '172.30.1.150', 80, 'tcp', 1)).toEqual({ answers: {}, errors: { ETIMEDOUT: 1 } });
    } finally {
      await program(baseNode);
    }
  });

  // "Capture healthCheckNodePorts": ACCEPT in filter KUBE-NODEPORTS, jumped from INPUT, even under a DROP policy.
  it('accepts the health check node port through an INPUT policy of DROP', async () => {
    await traffic.serve(ns.node, 'healthz', 30050, 30051);
    await lab.exec(ns.node, 'iptables-nft', ['-P', 'INPUT', 'DROP']);
    await lab.exec(ns.node, 'iptables-nft', ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
    try {
      expect(await traffic.call(ns.ext, '172.30.0.1', 30050, 'tcp', 2)).toEqual({ answers: { healthz: 2 }, errors: {} });
    } finally {
      await lab.exec(ns.node, 'iptables-nft', ['-P', 'INPUT', 'ACCEPT']);
    }
  });

  // pkg/registry/core/service/storage/alloc.go + syncProxyRules "Capture nodeports": no NodePort, no rule.
  it('opens no NodePort for a LoadBalancer with allocateLoadBalancerNodePorts false', async () => {
    const nat = await lab.exec(ns.node, 'iptables-nft-save', ['-t', 'nat']);
    expect(nat.split('\n').filter((l) => l.startsWith('-A KUBE-NODEPORTS '))).toEqual([
      expect.stringContaining('--comment "default/web" -m tcp --dport 30080 -j KUBE-EXT-'),
    ]);
  });
});
