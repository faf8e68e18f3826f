/**
 * Seed 004 end to end in a `keel up` sandbox with agents: nginx with 2
 * replicas on two nodes; the ClusterIP service (8001 → 80) answers from the
 * third node and from a pod there; the NodePort answers on every node's IP
 * from the external client namespace; the node's live nat table (or nftables
 * table) holds the service, and `keel describe --node` finds it as wanted.
 * Once per proxy mode, with the vxlan, udp and host-gw backends, and one IP
 * family mode each (`keel up --ip-family`): every check is made on each
 * family the sandbox has — the ClusterIP of each family (`curl -g
 * [ClusterIPv6]:8001`), the NodePort on each of a node's addresses, `dig A`
 * and `dig AAAA` from a pod.
 *
 * Address plan: underlay 172.30.0.0/24 and/or fd00:172:30::/64 (node-i .i / ::i,
 * client .253 / ::253, etcd .254 / ::254), pods 10.244.0.0/16 and/or fd00:10:244::/56
 * (a /24 or /64 per node leased by the agents), services 10.96.0.0/12 and/or fd00:10:96::/112.
 */
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../src/api/pod.js';
import { readPodRecord } from '../../src/sandbox/pod-records.js';
import { hostPort, underlayIps } from '../../src/sandbox/sandbox-state.js';
import { TestSandbox, until } from './sandbox-support.js';

// userspace and udp are IPv4-only (as kube-proxy's legacy proxier and flannel's udp backend).
const MODES = [
  { proxyMode: 'iptables', backend: 'vxlan', ipFamily: 'ipv6' },
  { proxyMode: 'userspace', backend: 'udp', ipFamily: 'ipv4' },
  { proxyMode: 'nftables', backend: 'host-gw', ipFamily: 'dual' },
] as const;

/** A URL curl takes for an address of either family (with -g, as IPv6 brackets are globs to curl otherwise). */
const url = (ip: string, port: number): string => `http://${hostPort(ip, port)}/`;

describe.each(MODES)('seed 004 (proxy $proxyMode, backend $backend, $ipFamily)', ({ proxyMode, backend, ipFamily }) => {
  const sbx = new TestSandbox();
  let nginx: Pod[];
  let third: string;
  let clusterIP: string;
  let clusterIPs: string[];
  let nodePort: number;

  beforeAll(async () => {
    await sbx.up(['--nodes', '3', '--proxy-mode', proxyMode, '--backend', backend, '--ip-family', ipFamily]);
    const applied = await sbx.keel(['apply', '-f', 'fixtures/sandbox/nginx/']);
    expect(applied.stderr).toBe('');
    nginx = await sbx.readyPods('nginx-controller-', 2);
    third = sbx.state.nodes.map((n) => n.name).find((n) => !nginx.some((p) => p.spec.nodeName === n))!;
    const cip = await sbx.service('nginx-service-clusterip');
    const np = await sbx.service('nginx-service-nodeport');
    clusterIP = cip!.spec.clusterIP!;
    clusterIPs = cip!.spec.clusterIPs!;
    nodePort = np!.spec.ports[0]!.nodePort!;
    // The services ask PreferDualStack: one ClusterIP, and one endpoint per pod, for each family the sandbox has.
    expect(clusterIPs.map((ip) => (ip.includes(':') ? 6 : 4))).toEqual({ ipv4: [4], ipv6: [6], dual: [4, 6] }[ipFamily]);
    const ips = nginx.flatMap((p) => p.status!.podIPs!.map((a) => a.ip)).sort();
    expect(ips).toHaveLength(2 * clusterIPs.length);
    await until(
      'endpoints of both replicas',
      async () => JSON.stringify(await sbx.endpointIps('nginx-service-nodeport')) === JSON.stringify(ips),
    );
  }, 180_000);

  afterAll(async () => {
    await sbx.down();
  });

  /** Requests until every replica has answered; every answer must name a replica. */
  async function answersFromBoth(target: { node: string } | { pod: string }, url: string): Promise<void> {
    const names = nginx.map((p) => p.metadata.name);
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < names.length; i++) {
      const body = await sbx.exec(target, ['curl', '-s', '-g', '-m', '3', url]);
      expect(names).toContain(body);
      seen.add(body);
    }
    expect([...seen].sort()).toEqual([...names].sort());
  }

  it('runs the two replicas on two different nodes', () => {
    expect(new Set(nginx.map((p) => p.spec.nodeName)).size).toBe(2);
  });

  it('answers on the ClusterIP of each family from the third node', async () => {
    for (const ip of clusterIPs) {
      await until(
        'the rules on the third node',
        async () => (await sbx.exec({ node: third }, ['curl', '-s', '-g', '-m', '2', url(ip, 8001)])) !== '',
      );
      await answersFromBoth({ node: third }, url(ip, 8001));
    }
  });

  it('answers on the ClusterIP from a pod on the third node', async () => {
    const manifest = join(sbx.runDir, 'client-pod.yaml');
    writeFileSync(
      manifest,
      `apiVersion: v1\nkind: Pod\nmetadata: { name: client }\nspec:\n  nodeName: ${third}\n  containers: [{ name: client, image: busybox, command: [sleep, "3600"] }]\n`,
    );
    expect((await sbx.keel(['apply', '-f', manifest])).exitCode).toBe(0);
    await sbx.readyPods('client', 1);
    for (const ip of clusterIPs) await answersFromBoth({ pod: 'client' }, url(ip, 8001));
    // …and by name, through the cluster DNS: an A and/or AAAA record, each family's ClusterIP.
    for (const ip of clusterIPs) {
      const type = ip.includes(':') ? 'AAAA' : 'A';
      const name = 'nginx-service-clusterip.default.svc.cluster.local';
      expect(await sbx.exec({ pod: 'client' }, ['dig', '+short', '+time=2', '+tries=2', type, name])).toBe(ip);
    }
  }, 120_000);

  it("answers on the NodePort of every node's address of each family from the external client", async () => {
    for (const ip of sbx.state.nodes.flatMap(underlayIps)) {
      const body = await sbx.exec({ node: 'client' }, ['curl', '-s', '-g', '-m', '3', url(ip, nodePort)]);
      expect(nginx.map((p) => p.metadata.name)).toContain(body);
    }
  });

  // Only the kernel modes have this property: in userspace mode the agent itself carries the connection, as kube-proxy's userspace mode does.
  if (proxyMode !== 'userspace')
    it("keeps an established connection through the ClusterIP while the node's agent is SIGKILLed and restarted", async () => {
      // 40 requests, 150 ms apart, over one keep-alive connection from the client pod on the third node.
      const script = `const http = require('http'); const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let sockets = 0; agent.on('free', () => undefined);
      const one = (i) => new Promise((ok, fail) => { const req = http.get({ host: process.argv[1], port: 8001, agent }, (res) => { let b = ''; res.on('data', (d) => b += d); res.on('end', () => ok(b.trim())); }); req.on('socket', (s) => { if (!s.counted) { s.counted = true; sockets++; } }); req.on('error', fail); });
      (async () => { for (let i = 0; i < 40; i++) { await one(i); if (i === 0) console.log('connected'); await new Promise((r) => setTimeout(r, 150)); } console.log('sockets=' + sockets); })().catch((e) => { console.log('error ' + e.message); process.exit(1); });`;
      const rec = readPodRecord(sbx.runDir, 'default', 'client')!;
      const run = execa('ip', ['netns', 'exec', rec.netns, process.execPath, '-e', script, clusterIP], { reject: false });
      const node = sbx.state.nodes.find((n) => n.name === third)!;
      // Kill only once the connection is up and has carried a request through the ClusterIP.
      await new Promise<void>((resolve, reject) => {
        run.stdout?.on('data', (d: Buffer) => {
          if (d.toString().includes('connected')) resolve();
        });
        void run.then((r) => reject(new Error(`client ended before connecting: ${String(r.stdout)} ${String(r.stderr)}`)));
      });
      process.kill(node.agent!.pid, 'SIGKILL');
      const restarted = await sbx.keel(['up', '--run-dir', sbx.runDir]);
      expect(restarted.stdout).toContain(`${third}: keel agent pid`);
      const res = await run;
      expect(res.stdout.trim().split('\n')).toEqual(['connected', 'sockets=1']);
      expect(res.exitCode).toBe(0);
      await until(
        'the restarted agent to be healthy',
        async () =>
          (await sbx.keel(['status', '--run-dir', sbx.runDir])).stdout.includes(`${third}  ${node.ip}`) &&
          (await sbx.keel(['status', '--run-dir', sbx.runDir])).stdout
            .split('\n')
            .some((l) => l.startsWith(third) && l.includes('healthy') && !l.includes('unhealthy')),
      );
    });

  if (proxyMode === 'nftables')
    it("shows the service in the node's live ip keel table, and describe finds it as wanted", async () => {
      const table = await sbx.keelExec({ node: third }, ['nft', 'list', 'table', 'ip', 'keel']);
      expect(table).toContain(`${clusterIP} . tcp . 8001 : goto service-`);
      for (const ip of clusterIPs.filter((a) => a.includes(':'))) {
        expect(await sbx.keelExec({ node: third }, ['nft', 'list', 'table', 'ip6', 'keel'])).toContain(
          `${ip} . tcp . 8001 : goto service-`,
        );
      }
      const described = await sbx.keel(['describe', 'svc', 'nginx-service-clusterip', '--node', third]);
      // The service's endpoint map (its slots are the endpoints) is listed before its chains.
      expect(described.stdout).toMatch(
        /Table ip keel:\n(?: +map service-endpoints-.*\n)* +chain service-\S+: \d+ rules, in the kernel as wanted\n/,
      );
      expect(described.stdout).not.toContain('MISSING');
      expect(described.stdout).toContain('Problems:\n  none found');
    });
  else
    it("shows the service in the node's live nat table of each family", async () => {
      for (const ip of clusterIPs) {
        const nat = await sbx.keelExec({ node: third }, [ip.includes(':') ? 'ip6tables-save' : 'iptables-save', '-t', 'nat']);
        expect(nat).toContain(ip.includes(':') ? `${ip}/128` : `${ip}/32`);
        expect(nat).toContain('KUBE-');
      }
    });
});
