/**
 * `keel agent` as a user runs it, inside a node namespace, against a real
 * etcd reached through its Unix socket:
 *   node  ka<rand>-n  eth0 172.30.77.1/24 (peer end in the same namespace), default route via .2
 *   services 10.96.0.0/12, pods 10.244.0.0/16; a service web → 10.244.5.5:8080
 * Settings come from a --config YAML file, KEEL_* variables and flags at once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateObject } from '../../src/api/object.js';
import { parseCidr, type Cidr } from '../../src/api/ip.js';
import { ObjectRegistry } from '../../src/registry/object-registry.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { EtcdServer } from '../../src/store/etcd-server.js';
import { KvStore } from '../../src/store/kv-store.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { KEEL_BIN } from '../support/keel-cli.js';
import { addNodeNetns } from '../support/node-netns.js';
import { until } from '../support/until.js';

const ns = `ka${randomBytes(3).toString('hex')}-n`;
const nodeIp = '172.30.77.1';
const dir = mkdtempSync(join(tmpdir(), 'keel-agent-'));
const etcd = new EtcdServer({ unixSocket: true });
let objects: ObjectStore;
let registry: ObjectRegistry;
let agent: ReturnType<typeof startAgent> | undefined;

const inNode = (cmd: string[]) => execa('ip', ['netns', 'exec', ns, ...cmd], { reject: false });

function startAgent() {
  writeFileSync(
    join(dir, 'agent.yaml'),
    [
      'proxy-mode: iptables',
      'cluster-cidr: 10.244.0.0/16',
      'node-name: node-a',
      'metrics-bind-address: 127.0.0.1:1', // overridden by the flag below: flags win over --config
      `dns-listen: ${nodeIp}:53`,
      'upstream: 127.0.0.1:5',
      'iptables-sync-period: 2s',
    ].join('\n'),
  );
  return execa(
    'ip',
    ['netns', 'exec', ns, 'node', KEEL_BIN, 'agent', '--config', join(dir, 'agent.yaml'), '--metrics-bind-address', '127.0.0.1:10249'],
    {
      env: { KEEL_ETCD_ENDPOINTS: etcd.socketEndpoint, KEEL_ETCD_PREFIX: '/registry', KEEL_BACKEND: 'none' },
      reject: false,
      // execa SIGKILLs a process still running 5 s after kill(): a timed assertion in disguise, which a clean shutdown
      // on a loaded machine can fail ("ended by a signal"). The test's own timeout bounds the wait instead.
      forceKillAfterDelay: false,
    },
  );
}

async function get(path: string): Promise<{ code: string; body: string }> {
  const res = await inNode(['curl', '-s', '-w', '\n%{http_code}', `http://127.0.0.1:10249${path}`]);
  const lines = String(res.stdout).split('\n');
  return { code: lines.pop() ?? '', body: lines.join('\n') };
}

const natRules = async () => String((await inNode(['iptables-save', '-t', 'nat'])).stdout);

beforeAll(async () => {
  await etcd.start();
  objects = new ObjectStore(new KvStore(createEtcdClient({ endpoints: [etcd.socketEndpoint] }), [etcd.socketEndpoint]), '/registry');
  registry = new ObjectRegistry(objects, {
    ipam: { serviceRanges: [parseCidr('10.96.0.0/12') as Cidr], nodePorts: { min: 30000, max: 32767 } },
  });
  await registry.apply(
    validateObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { clusterIP: '10.96.0.50', ports: [{ port: 80, targetPort: 8080 }] },
    }),
  );
  await registry.apply(
    validateObject({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'web' },
      subsets: [{ addresses: [{ ip: '10.244.5.5' }], ports: [{ port: 8080 }] }],
    }),
  );
  await addNodeNetns(ns, nodeIp, '172.30.77.2');
});

afterAll(async () => {
  agent?.kill('SIGKILL');
  await agent;
  objects?.kv.close();
  await execa('ip', ['netns', 'del', ns], { reject: false });
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('keel agent in a node namespace', () => {
  it('takes settings from --config, KEEL_* and flags, and reports ready and healthy', async () => {
    agent = startAgent();
    await until('/readyz', async () => (await get('/readyz')).code === '200');
    const health = await get('/healthz');
    expect(health.code).toBe('200');
    expect(health.body).toMatch(/proxy-iptables: last successful sync/);
    expect(health.body).toMatch(/dns: /);
    expect((await get('/metrics')).body).toMatch(/^keel_sync_proxy_rules_last_timestamp_seconds \d/m);
  });

  // kube-proxy pkg/proxy/healthcheck/proxy_health.go: /healthz and /livez on --healthz-bind-address, default 0.0.0.0:10256.
  it("serves kube-proxy's /healthz and /livez on 0.0.0.0:10256 by default", async () => {
    for (const path of ['/healthz', '/livez']) {
      const res = await inNode(['curl', '-s', '-w', '\n%{http_code}', `http://${nodeIp}:10256${path}`]);
      const lines = String(res.stdout).split('\n');
      expect(lines.pop(), path).toBe('200');
      expect(JSON.parse(lines.join('\n'))).toMatchObject({ lastUpdated: expect.any(String), currentTime: expect.any(String) });
    }
  });

  it('programs the service into the kernel and answers its name', async () => {
    expect(await natRules()).toMatch(
      /-A KUBE-SERVICES -d 10\.96\.0\.50\/32 -p tcp -m comment --comment "default\/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-/,
    );
    const dig = await inNode(['dig', '+short', `@${nodeIp}`, 'web.default.svc.cluster.local']);
    expect(String(dig.stdout).trim()).toBe('10.96.0.50');
  });

  it('leaves rules in place on SIGTERM, and a restarted agent adopts them', async () => {
    const before = (await natRules())
      .split('\n')
      .filter((l) => l.startsWith('-A KUBE-'))
      .sort();
    agent?.kill('SIGTERM');
    const exited = await agent;
    agent = undefined;
    // Which signal ended it, if one did, and the agent's last lines: a failure here says why.
    expect({
      exitCode: exited?.exitCode,
      signal: exited?.signal,
      tail: exited?.exitCode === 0 ? '' : String(exited?.stderr).slice(-2000),
    }).toEqual({
      exitCode: 0,
      signal: undefined,
      tail: '',
    });
    expect(String(exited?.stderr)).toMatch(
      /level=info component=agent signal=SIGTERM msg="stopping; iptables\/nftables rules and routes stay in place"/,
    );
    const after = (await natRules())
      .split('\n')
      .filter((l) => l.startsWith('-A KUBE-'))
      .sort();
    expect(after).toEqual(before);

    agent = startAgent();
    await until('/readyz after restart', async () => (await get('/readyz')).code === '200');
    expect(
      (await natRules())
        .split('\n')
        .filter((l) => l.startsWith('-A KUBE-'))
        .sort(),
    ).toEqual(before);
  });

  it('follows an endpoint change', async () => {
    await registry.apply(
      validateObject({
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'web' },
        subsets: [{ addresses: [{ ip: '10.244.6.6' }], ports: [{ port: 8080 }] }],
      }),
    );
    await until('the new endpoint in the kernel', async () => (await natRules()).includes('--to-destination 10.244.6.6:8080'));
    expect(await natRules()).not.toContain('10.244.5.5');
  });
});
