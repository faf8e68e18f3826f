/**
 * etcd HA: a keel agent given all three endpoints of a TLS etcd cluster.
 * The member it is connected to is killed, later (after it rejoined) the
 * member it then uses loses its network; services created during each
 * fault must all reach the agent's rules: missed updates are counted.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateObject } from '../../src/api/object.js';
import type { KvStore } from '../../src/store/kv-store.js';
import { encodeForStorage } from '../../src/store/object-store.js';
import { EtcdTlsCluster, type Member } from './etcd-tls-cluster.js';
import { FaultLab, recordResult, until } from './fault-lab.js';

const PER_FAULT = 20;
const prefix = '/registry';
const cluster = new EtcdTlsCluster();
const lab = new FaultLab(81);
const stores: KvStore[] = [];
const figures: string[] = [];

async function createService(kv: KvStore, name: string, clusterIP: string): Promise<void> {
  const svc = validateObject({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP, ports: [{ port: 80 }] },
  });
  await kv.put(`${prefix}/services/specs/default/${name}`, encodeForStorage(svc));
}

/** The members the agent holds established client connections to. */
async function connectedMembers(): Promise<Member[]> {
  const res = await lab.run(['ss', '-Htn', 'state', 'established', '( dport = :2379 )']);
  const text = String(res.stdout);
  return cluster.members.filter((m) => text.includes(`${m.ip}:2379`));
}

async function seenIn(ips: string[]): Promise<number> {
  // Services without endpoints show as REJECT rules in filter; with endpoints in nat.
  const rules = (await lab.natRules()) + String((await lab.run(['iptables-save', '-t', 'filter'])).stdout);
  return ips.filter((ip) => rules.includes(`-d ${ip}/32`)).length;
}

/** For a failure report: each member's revision and which of `ips` etcd holds. */
async function etcdState(ips: string[]): Promise<string> {
  const lines = ['--- etcd'];
  for (const [i, m] of cluster.members.entries()) {
    try {
      const { entries, revision } = await stores[i]!.list(`${prefix}/services/specs/`);
      const held = ips.filter((ip) => entries.some((e) => e.value.toString().includes(`"${ip}"`)));
      lines.push(`${m.name}: revision ${revision}, ${entries.length} services, ${held.length}/${ips.length} of this fault's`);
    } catch (err) {
      lines.push(`${m.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return lines.join('\n');
}

/** Creates PER_FAULT services through `writer` while a fault holds; returns how many reached the kernel. */
async function updatesDuringFault(label: string, writer: KvStore, subnet: number, faultAt: number): Promise<number> {
  const ips = Array.from({ length: PER_FAULT }, (_, i) => `10.96.${subnet}.${i + 1}`);
  for (const [i, ip] of ips.entries()) await createService(writer, `fault${subnet}-${i}`, ip);
  let seen = 0;
  try {
    await until(`${label}: all updates in the kernel`, async () => (seen = await seenIn(ips)) === PER_FAULT, 90_000);
  } finally {
    if (seen < PER_FAULT) console.log(await etcdState(ips));
    figures.push(
      `${label}: updates expected ${PER_FAULT}, seen ${seen}, missed ${PER_FAULT - seen}; fault to last update in the kernel: ${Date.now() - faultAt} ms (printed, not asserted)`,
    );
  }
  return seen;
}

beforeAll(async () => {
  await cluster.start();
  await lab.setUp();
  await cluster.plug(lab.ns, '172.30.80.1', 'a');
  for (const m of cluster.members) stores.push(cluster.storeVia(m));
}, 90_000);

afterAll(async () => {
  await lab.tearDown();
  for (const s of stores) s.close();
  await cluster.stop();
  recordResult('etcd HA (3 members, TLS)', figures.length ? figures : ['did not run']);
});

describe('a keel agent on a three-member TLS etcd cluster', () => {
  it('loses no update when its member is killed, then when the next one is cut off', async () => {
    await createService(stores[0]!, 'before', '10.96.5.1');
    const agent = lab.startAgent({
      KEEL_ETCD_ENDPOINTS: cluster.clientUrls,
      KEEL_ETCD_PREFIX: prefix,
      KEEL_ETCD_CAFILE: cluster.ca,
      KEEL_ETCD_CERTFILE: cluster.clientCert,
      KEEL_ETCD_KEYFILE: cluster.clientKey,
    });
    await until('/readyz over TLS', async () => (await lab.http('/readyz')).code === '200');
    await until('the first service', async () => (await seenIn(['10.96.5.1'])) === 1);

    // Fault 1: SIGKILL the member the agent talks to.
    const connected = await connectedMembers();
    figures.push(`agent connected to ${connected.map((m) => m.name).join(', ') || 'none'} (of m1, m2, m3) before the first fault`);
    const [first] = connected;
    expect(first, 'the agent holds a connection to some member').toBeDefined();
    const killedAt = Date.now();
    await cluster.kill(first!);
    const writer1 = cluster.members.findIndex((m) => m !== first);
    expect(await updatesDuringFault(`kill ${first!.name}`, stores[writer1]!, 3, killedAt)).toBe(PER_FAULT);
    cluster.launch(first!, 'existing');
    await cluster.waitHealthy(first!);

    // Fault 2: the member the agent uses now loses its network (no RST: a silent partition).
    const [second] = await connectedMembers();
    expect(second, 'the agent reconnected to some member').toBeDefined();
    const cutAt = Date.now();
    await execa('ip', ['-n', second!.ns, 'link', 'set', 'eth9', 'down']);
    const writer2 = cluster.members.findIndex((m) => m !== second);
    try {
      expect(await updatesDuringFault(`partition ${second!.name}`, stores[writer2]!, 4, cutAt)).toBe(PER_FAULT);
    } finally {
      await execa('ip', ['-n', second!.ns, 'link', 'set', 'eth9', 'up'], { reject: false });
    }
    expect(agent.child.exitCode).toBeNull();
  }, 240_000);
});
