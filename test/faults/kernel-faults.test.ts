/**
 * Kernel faults: a rule someone else put in the node's nat table jumps to a
 * chain keel must delete, so every iptables-restore keel runs is refused
 * (CHAIN_DEL: Device or resource busy). The kernel keeps the old rules
 * (restore is one transaction), the failure metric rises, and once the
 * foreign rule goes the agent converges on its own.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateObject } from '../../src/api/object.js';
import { EtcdServer } from '../../src/store/etcd-server.js';
import type { KvStore } from '../../src/store/kv-store.js';
import { encodeForStorage } from '../../src/store/object-store.js';
import { FaultLab, recordResult, until } from './fault-lab.js';
import { connectStore } from '../support/etcd.js';

const prefix = `/kfault${randomBytes(3).toString('hex')}`;
const etcd = new EtcdServer({ unixSocket: true });
const lab = new FaultLab(79);
let kv: KvStore;

async function putService(name: string, clusterIP: string): Promise<void> {
  const svc = validateObject({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await kv.put(`${prefix}/services/specs/default/${name}`, encodeForStorage(svc));
}

async function putEndpoints(name: string, ip: string): Promise<void> {
  const ep = validateObject({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: 'default' },
    subsets: [{ addresses: [{ ip }], ports: [{ port: 8080 }] }],
  });
  await kv.put(`${prefix}/services/endpoints/default/${name}`, encodeForStorage(ep));
}

const iptables = (...args: string[]) => lab.run(['iptables', '-w', '5', '-t', 'nat', ...args]);

beforeAll(async () => {
  await etcd.start();
  kv = connectStore(etcd.socketEndpoint);
  await putService('victim', '10.96.0.71');
  await putEndpoints('victim', '10.244.8.1');
  await putService('other', '10.96.0.72');
  await putEndpoints('other', '10.244.8.2');
  await lab.setUp();
});

afterAll(async () => {
  await lab.tearDown();
  kv?.close();
  await etcd.stop();
});

describe('iptables-restore refused by the kernel', () => {
  it('keeps the old rules, counts the failures and recovers when the fault clears', async () => {
    const agent = lab.startAgent({ KEEL_ETCD_ENDPOINTS: etcd.socketEndpoint, KEEL_ETCD_PREFIX: prefix });
    await until('/readyz', async () => (await lab.http('/readyz')).code === '200');
    const victimChain = /-A KUBE-SERVICES -d 10\.96\.0\.71\/32 .* -j (KUBE-SVC-[A-Z0-9]+)/.exec(await lab.natRules())?.[1];
    expect(victimChain).toBeDefined();

    // The fault: a foreign chain that jumps to the victim's chain pins it.
    expect((await iptables('-N', 'KF-HOLD')).exitCode).toBe(0);
    expect((await iptables('-A', 'KF-HOLD', '-j', victimChain!)).exitCode).toBe(0);
    const failuresBefore = await lab.metric('keel_iptables_restore_failures_total');
    const before = (await lab.natRules())
      .split('\n')
      .filter((l) => l.startsWith('-A KUBE-'))
      .sort();

    // Deleting the victim needs `-X` of its chain; the other service's change rides in the same restore.
    await kv.delete(`${prefix}/services/specs/default/victim`);
    await kv.delete(`${prefix}/services/endpoints/default/victim`);
    await putEndpoints('other', '10.244.8.22');
    await until('a refused restore', async () => (await lab.metric('keel_iptables_restore_failures_total')) >= failuresBefore + 2);

    const during = (await lab.natRules())
      .split('\n')
      .filter((l) => l.startsWith('-A KUBE-'))
      .sort();
    expect(during).toEqual(before);
    expect(agent.child.exitCode).toBeNull();
    expect(agent.log()).toMatch(/level=error .*msg="sync failed: /);
    const failures = (await lab.metric('keel_iptables_restore_failures_total')) - failuresBefore;

    // Clear the fault; the agent must converge without help.
    const cleared = Date.now();
    await iptables('-F', 'KF-HOLD');
    await iptables('-X', 'KF-HOLD');
    await until('convergence after the fault', async () => {
      const rules = await lab.natRules();
      return !rules.includes('10.96.0.71') && rules.includes('--to-destination 10.244.8.22:8080');
    });
    const recoveryMs = Date.now() - cleared;
    const after = await lab.natRules();
    expect(after).not.toContain(victimChain!);
    expect(after).not.toContain('10.244.8.2:8080');
    expect(after).toMatch(
      /-A KUBE-SERVICES -d 10\.96\.0\.72\/32 -p tcp -m comment --comment "default\/other cluster IP" -m tcp --dport 80 -j KUBE-SVC-/,
    );
    expect((await lab.http('/healthz')).code).toBe('200');

    recordResult('kernel faults', [
      'fault: a foreign nat rule jumping to a chain keel must delete (iptables-restore: CHAIN_DEL failed, Device or resource busy)',
      `refused restores while the fault held: ${failures} (keel_iptables_restore_failures_total); KUBE-* rule lines kept unchanged: ${during.length}/${before.length}`,
      `stale entries after recovery: 0; recovery time after the fault cleared: ${recoveryMs} ms (printed, not asserted)`,
      'a route deleted by hand: see "kernel faults: overlay route deleted by hand"',
    ]);
  });
});
