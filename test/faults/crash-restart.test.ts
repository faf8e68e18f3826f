/**
 * Crash and restart: a node's agent programs one real service (an echo
 * server in a pod namespace) and stops; 10,000 services arrive in etcd; the
 * next agent's first sync restores them all in one iptables-restore, and
 * is SIGKILLed halfway through feeding it. The kernel must hold the old
 * ruleset or the new one, never a part (a restore is one transaction); a
 * restarted agent must leave exactly the compiled rules; a TCP connection
 * established through the ClusterIP before all this exchanges a line every
 * 100 ms throughout and loses none (conntrack keeps its DNAT).
 *   node kfb<rand>-n 172.30.86.1/24, vpod 10.244.200.1/24 ── pod kfb<rand>-p eth0 10.244.200.2
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey } from '../../src/api/object.js';
import { RestoreRunner } from '../../src/kernel/iptables/restore-runner.js';
import { isServiceChainName } from '../../src/proxy-iptables/chain-names.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, keelJumps, type RuleSet } from '../../src/proxy-iptables/compile.js';
import { allCandidates, chainBody, kernelViewOf, planSync, type KernelView } from '../../src/proxy-iptables/sync-plan.js';
import { EtcdServer } from '../../src/store/etcd-server.js';
import type { TxnOp } from '../../src/store/kv-store.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { EchoFlow, type FlowSummary } from './echo-flow.js';
import { FaultLab, recordResult, until } from './fault-lab.js';
import { connectStore } from '../support/etcd.js';

const SERVICES = 10_000;
const ECHO_IP = '10.100.0.1';
const ECHO_PORT = 7000;
const POD_IP = '10.244.200.2';
const prefix = `/kfb${randomBytes(3).toString('hex')}`;
const etcd = new EtcdServer({ unixSocket: true });
const lab = new FaultLab(86, 'kfb');
const podNs = lab.ns.replace(/-n$/, '-p');
const node = { nodeName: 'node-f', masqueradeBit: DEFAULT_MASQUERADE_BIT, clusterCidr: '10.244.0.0/16' };
const runner = new RestoreRunner({ backend: 'nft', netns: lab.ns });
const flow = new EchoFlow(lab.dir);
let objects: ObjectStore;
let orphan: number | undefined;

const clusterIp = (i: number): string => `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const endpointCount = (i: number): number => 1 + (i % 3);

function serviceJson(name: string, ip: string, port: number, targetPort: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'crash' },
    spec: { type: 'ClusterIP', clusterIP: ip, ports: [{ name: 'tcp', port, targetPort, protocol: 'TCP' }] },
  });
}

function endpointsJson(name: string, ips: string[], port: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: 'crash' },
    subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ name: 'tcp', port, protocol: 'TCP' }] }],
  });
}

/** 10k services with 1–3 endpoints each (none at the pod), in transactions of 100 puts (etcd takes at most 128). */
async function writeServices(): Promise<number> {
  const ops: TxnOp[] = [];
  let k = 0;
  for (let i = 0; i < SERVICES; i++) {
    const ips = Array.from({ length: endpointCount(i) }, () => `10.244.${Math.floor(k / 250)}.${(k++ % 250) + 1}`);
    ops.push({ put: objectKey(prefix, 'Service', 'crash', `svc-${i}`), value: serviceJson(`svc-${i}`, clusterIp(i), 80, 8080) });
    ops.push({ put: objectKey(prefix, 'Endpoints', 'crash', `svc-${i}`), value: endpointsJson(`svc-${i}`, ips, 8080) });
  }
  for (let at = 0; at < ops.length; at += 100) await objects.kv.txn([], ops.slice(at, at + 100));
  return k;
}

/** The agent's iptables-nft-restore child, if one runs. */
function restoreChild(agentPid: number): number | undefined {
  for (const tid of readdirSync(`/proc/${agentPid}/task`)) {
    for (const kid of readFileSync(`/proc/${agentPid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) {
      if (readFileSync(`/proc/${kid}/cmdline`, 'utf8').includes('iptables-nft-restore')) return Number(kid);
    }
  }
  return undefined;
}

/** Bytes the process has read so far (its restore input, fed through stdin). */
const bytesRead = (pid: number): number => Number(/^rchar: (\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

/** KUBE-SVC-/KUBE-SEP- chains in the node (only nat holds them; `nft list chains`: names only, cheap at any size). */
async function serviceChains(): Promise<{ svc: number; sep: number }> {
  const res = await lab.run(['nft', 'list', 'chains', 'ip']);
  if (res.exitCode !== 0) throw new Error(`nft list chains: ${String(res.stderr)}`);
  const text = String(res.stdout);
  return { svc: (text.match(/chain KUBE-SVC-/g) ?? []).length, sep: (text.match(/chain KUBE-SEP-/g) ?? []).length };
}

async function kernelView(): Promise<{ view: KernelView; nat: string }> {
  const nat = await runner.save('nat');
  return { view: kernelViewOf({ nat, filter: await runner.save('filter') }), nat };
}

/** The kernel against the compiler's rules for the same etcd content, chain by chain. */
function compare(rules: RuleSet, view: KernelView) {
  let missing = 0;
  let differing = 0;
  let orphans = 0;
  for (const table of ['nat', 'filter'] as const) {
    const wanted = new Set(rules[table].chains.map((c) => c.name));
    for (const c of rules[table].chains) {
      const have = view[table].get(c.name);
      if (have === undefined) missing++;
      else if (have !== chainBody(c)) differing++;
    }
    for (const name of view[table].keys()) if (isServiceChainName(name) && !wanted.has(name)) orphans++;
  }
  // Each jump into keel's chains exactly once: a restore replayed over a stale view could insert it twice.
  const jumps = (['nat', 'filter'] as const).flatMap((table) =>
    keelJumps()[table].map((j) => (view[table].get(j.chain) ?? '').split('\n').filter((l) => l === `-A ${j.chain} ${j.rule}`).length),
  );
  return {
    missing,
    differing,
    orphans,
    badJumps: jumps.filter((n) => n !== 1).length,
    diff: planSync(allCandidates(rules, view), keelJumps(), view).text,
  };
}

/** Independent of the compiler: each ClusterIP's KUBE-SVC chain and how many KUBE-SEP chains it picks from. */
function endpointsPerClusterIp(nat: string): Map<string, number> {
  const svcOf = new Map<string, string>();
  const seps = new Map<string, number>();
  for (const line of nat.split('\n')) {
    const top = /^-A KUBE-SERVICES -d ([\d.]+)\/32 .*-j (KUBE-SVC-\w+)$/.exec(line);
    if (top) svcOf.set(top[1] ?? '', top[2] ?? '');
    const pick = /^-A (KUBE-SVC-\w+) .*-j KUBE-SEP-\w+$/.exec(line);
    if (pick) seps.set(pick[1] ?? '', (seps.get(pick[1] ?? '') ?? 0) + 1);
  }
  return new Map([...svcOf].map(([ip, chain]) => [ip, seps.get(chain) ?? 0]));
}

beforeAll(async () => {
  await etcd.start();
  objects = new ObjectStore(connectStore(etcd.socketEndpoint), prefix);
  await objects.kv.txn(
    [],
    [
      { put: objectKey(prefix, 'Service', 'crash', 'echo'), value: serviceJson('echo', ECHO_IP, ECHO_PORT, 7007) },
      { put: objectKey(prefix, 'Endpoints', 'crash', 'echo'), value: endpointsJson('echo', [POD_IP], 7007) },
    ],
  );
  await lab.setUp();
  await execa('ip', ['netns', 'add', podNs]);
  for (const cmd of [
    ['link', 'add', 'vpod', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs],
    ['addr', 'add', '10.244.200.1/24', 'dev', 'vpod'],
    ['link', 'set', 'vpod', 'up'],
  ])
    await execa('ip', ['-n', lab.ns, ...cmd]);
  for (const cmd of [
    ['link', 'set', 'lo', 'up'],
    ['addr', 'add', `${POD_IP}/24`, 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'],
    ['route', 'add', 'default', 'via', '10.244.200.1'],
  ])
    await execa('ip', ['-n', podNs, ...cmd]);
  await flow.serve(podNs, 7007);
}, 60_000);

afterAll(async () => {
  await flow.stop();
  // The killed agent's restore child, if it outlived the wait for it.
  if (orphan !== undefined && alive(orphan)) process.kill(orphan, 'SIGKILL');
  await lab.tearDown();
  await execa('ip', ['netns', 'del', podNs], { reject: false });
  objects?.kv.close();
  await etcd.stop();
});

describe('an agent SIGKILLed during the sync of 10,000 services', () => {
  it('leaves the old or the new ruleset, restarts to exactly the compiled rules, and keeps established flows', async () => {
    const env = { KEEL_ETCD_ENDPOINTS: etcd.socketEndpoint, KEEL_ETCD_PREFIX: prefix };
    const args = ['--no-dns'];
    const figures: string[] = [];
    const started = Date.now();

    // Generation 1 programs the echo service; the flow is established through it.
    const first = lab.startAgent(env, args);
    await until('the first agent ready', async () => (await lab.http('/readyz')).code === '200');
    await flow.open(lab.ns, ECHO_IP, ECHO_PORT, 100, 6_000);
    await until('echoes on the established flow', async () => flow.echoes.length >= 5);
    first.child.kill('SIGTERM');
    expect((await first.child).exitCode).toBe(0);
    lab.agent = undefined;

    const loadAt = Date.now();
    const endpoints = await writeServices();
    const loadMs = Date.now() - loadAt;
    const snapshot = await objects.readSnapshot();
    const rules = compileRules(snapshot, node);
    const before = await kernelView();
    const input = planSync(allCandidates(rules, before.view), keelJumps(), before.view).text.length;
    const old = await serviceChains();

    // Generation 2: SIGKILL once its restore has read half its input.
    const second = lab.startAgent(env, args);
    const agentPid = second.child.pid as number;
    const secondAt = Date.now();
    let restore: number | undefined;
    await until("the second agent's iptables-nft-restore", async () => (restore = restoreChild(agentPid)) !== undefined, 180_000);
    const restoreAt = Date.now();
    let read = 0;
    await until(
      'half the restore input read',
      async () => {
        read = alive(restore!) ? bytesRead(restore!) : Number.NaN;
        if (Number.isNaN(read)) throw new Error('the restore ended before half its input was read: nothing to interrupt');
        return read >= input / 2;
      },
      300_000,
    );
    const killAt = Date.now();
    await lab.stopAgent();
    orphan = restore;
    const atKill = await serviceChains();
    const orphanMs = await until("the killed agent's restore to end", async () => !alive(restore!), 120_000);
    const afterOrphan = await serviceChains();
    const held = afterOrphan.svc === old.svc && afterOrphan.sep === old.sep ? 'old' : afterOrphan.svc === SERVICES + 1 ? 'new' : 'partial';
    figures.push(
      `services: ${SERVICES} (+1 echo service), endpoints: ${endpoints} (+1), stored in ${loadMs} ms through ${Math.ceil((SERVICES * 2) / 100)} transactions`,
      `restore input: ${(input / 1e6).toFixed(1)} MB; SIGKILL ${killAt - restoreAt} ms after the restore started (${killAt - secondAt} ms after the agent), at ${((read / input) * 100).toFixed(0)}% read`,
      `kernel at the kill: ${atKill.svc} KUBE-SVC-, ${atKill.sep} KUBE-SEP- chains; after the orphaned restore ended (${orphanMs} ms later): ${afterOrphan.svc}/${afterOrphan.sep} — the ${held} ruleset (old: ${old.svc}/${old.sep}, new: ${SERVICES + 1}/${endpoints + 1})`,
    );
    expect(held).not.toBe('partial');

    // Generation 3 comes up while the flow keeps exchanging lines.
    const thirdAt = Date.now();
    lab.startAgent(env, args);
    await until('the restarted agent ready', async () => (await lab.http('/readyz')).code === '200', 400_000);
    const readyAt = Date.now();
    const { view, nat } = await kernelView();
    const cmp = compare(rules, view);
    const perIp = endpointsPerClusterIp(nat);
    const wrongCounts = Array.from({ length: SERVICES }, (_, i) => i).filter((i) => perIp.get(clusterIp(i)) !== endpointCount(i)).length;
    const fresh = await flow.probe(lab.ns, ECHO_IP, ECHO_PORT);
    const gap = flow.echoedBetween(killAt, readyAt);
    const summary: FlowSummary = await flow.close();
    figures.push(
      `restarted agent ready (first list + full resync) in ${readyAt - thirdAt} ms; kill to ready ${readyAt - killAt} ms`,
      `after the restart: missing chains ${cmp.missing}, differing ${cmp.differing}, orphan service chains ${cmp.orphans}, jumps not present exactly once ${cmp.badJumps}; keel rules --diff: ${cmp.diff ? `${cmp.diff.split('\n').length} lines` : 'empty'}`,
      `services whose KUBE-SVC chain picks the wrong number of endpoints (parsed from iptables-save, not from the compiler): ${wrongCounts} of ${SERVICES}`,
      `established flow (a line every 100 ms): ${summary.sent} sent, ${summary.echoed} echoed, ${summary.sent - summary.echoed} lost${summary.error ? `, error ${summary.error}` : ''}; ${gap} echoed between the kill and ready; longest pause ${flow.longestPause()} ms`,
      `a new connection to the ClusterIP after the restart: ${fresh.echoed}/${fresh.sent} echoed`,
      `scenario wall time: ${((Date.now() - started) / 1000).toFixed(0)} s (printed, not asserted)`,
    );
    recordResult('crash and restart', figures);

    expect(cmp).toEqual({ missing: 0, differing: 0, orphans: 0, badJumps: 0, diff: '' });
    expect(wrongCounts).toBe(0);
    expect(perIp.get(ECHO_IP)).toBe(1);
    expect(summary.error).toBeNull();
    expect(summary.echoed).toBe(summary.sent);
    expect(gap).toBeGreaterThan(0);
    expect(fresh.echoed).toBe(1);
  }, 900_000);
});
