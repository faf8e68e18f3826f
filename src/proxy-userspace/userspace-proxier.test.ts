import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../api/cluster-state.js';
import { validateEndpoints } from '../api/endpoints.js';
import { validateService } from '../api/service.js';
import { RestoreError } from '../kernel/iptables/restore-error.js';
import { FakeRunner } from '../kernel/iptables/testing/fake-runner.js';
import { FakeClock } from '../runtime/testing/fake-clock.js';
import { PORTAL_CHAINS } from './portal-rules.js';
import { UserspaceProxier } from './userspace-proxier.js';

/* Listeners on 127.0.0.1 from a port range; rules go to the verifying fake iptables. */
const FULL = { services: new Set<string>(), endpoints: new Set<string>(), pods: new Set<string>(), full: true };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(reply: string): Promise<number> {
  const server = net.createServer((s) => s.end(reply));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let out = '';
    c.on('data', (d) => {
      out += d.toString();
    });
    c.on('end', () => resolve(out));
    c.on('error', reject);
  });
}

function snapshot(backendPort: number | undefined): ClusterSnapshot {
  const svc = validateService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ port: 80, nodePort: 30080 }] },
  });
  const ep = validateEndpoints({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'default' },
    subsets: backendPort ? [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: backendPort }] }] : [],
  });
  return {
    revision: 1,
    services: new Map(backendPort === undefined ? [] : [['default/web', svc]]),
    endpoints: new Map(backendPort === undefined ? [] : [['default/web', ep]]),
    pods: new Map(),
  };
}

describe('UserspaceProxier', () => {
  it('opens a listener from the range, writes its rules, and retires both with the service', async () => {
    const fake = new FakeRunner();
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const busyPort = (busy.address() as net.AddressInfo).port;
    cleanups.push(() => new Promise<void>((r) => busy.close(() => r())));
    const proxier = new UserspaceProxier({
      runner: fake,
      node: { nodeIP: '172.30.0.2' },
      // Its TCP listener in this thread: tcp-proxy.test.ts runs both relays.
      relay: 'node',
      listenHost: '127.0.0.1',
      portRange: { min: busyPort, max: busyPort + 20 },
    });

    await proxier.sync(snapshot(await backend('hello')), FULL);
    const port = proxier.proxyPorts().get('default/web:');
    expect(port).toBeGreaterThan(busyPort); // the taken first port was skipped
    expect(await get(port as number)).toBe('hello');
    const nat = await fake.save('nat');
    expect(nat).toContain(
      `-A KUBE-NODEPORT-HOST -p tcp -m comment --comment "default/web:" -m tcp --dport 30080 -j DNAT --to-destination 172.30.0.2:${port}`,
    );

    const restores = fake.restores.length;
    await proxier.sync(snapshot(await backend('hello')), { ...FULL, full: false });
    expect(fake.restores.length).toBe(restores); // same rules: iptables untouched

    await proxier.sync(snapshot(undefined), { ...FULL, full: false, services: new Set(['default/web']) });
    expect(proxier.proxyPorts().size).toBe(0);
    expect(await fake.save('nat')).not.toContain('default/web:');
    await expect(get(port as number)).rejects.toThrow(/ECONNREFUSED/);

    await proxier.stop();
    expect(await fake.save('nat')).not.toContain('KUBE-PORTALS');
  });

  it('start() syncs what update() records, repairs flushed rules each sync period, and syncs fully after a failure', async () => {
    const fake = new FakeRunner();
    const clock = new FakeClock();
    const proxier = new UserspaceProxier({
      runner: fake,
      node: { nodeIP: '172.30.0.2' },
      // Its TCP listener in this thread: tcp-proxy.test.ts runs both relays.
      relay: 'node',
      listenHost: '127.0.0.1',
      syncPeriodMs: 30_000,
      clock,
    });
    const ac = new AbortController();
    cleanups.push(() => {
      ac.abort();
      return proxier.stop();
    });
    const started = proxier.start(ac.signal);
    const web = snapshot(await backend('hello'));
    proxier.update(web, FULL);
    await clock.advance(0);
    await started;
    const port = proxier.proxyPorts().get('default/web:');
    expect(await fake.save('nat')).toContain(
      `-A KUBE-NODEPORT-HOST -p tcp -m comment --comment "default/web:" -m tcp --dport 30080 -j DNAT --to-destination 172.30.0.2:${port}`,
    );

    // Someone flushes the portal chains: the periodic sync puts them back, the same listener kept.
    await fake.restore(`*nat\n${PORTAL_CHAINS.map((c) => `-F ${c}`).join('\n')}\nCOMMIT\n`);
    expect(await fake.save('nat')).not.toContain('default/web:');
    const repaired = proxier.flush();
    await clock.advance(30_000);
    await repaired;
    expect(await fake.save('nat')).toContain(`--dport 30080 -j DNAT --to-destination 172.30.0.2:${port}`);

    // A failed write is retried, fully, after 1 s: the service's rules are gone after it.
    fake.failNext = 'No chain/target/match by that name.';
    // The restore's own error, passed on through sync() and the runner (a bare toThrow() passes on a rejection with undefined).
    const failed = expect(proxier.flush()).rejects.toThrow(RestoreError);
    proxier.update(snapshot(undefined), { ...FULL, full: false, services: new Set(['default/web']) });
    await clock.advance(0);
    await failed;
    const retried = proxier.flush();
    await clock.advance(1_000);
    await retried;
    expect(proxier.proxyPorts().size).toBe(0);
    expect(await fake.save('nat')).not.toContain('default/web:');
  });
});
