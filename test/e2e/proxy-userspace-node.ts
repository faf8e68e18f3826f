/**
 * Test-only entry: runs a UserspaceProxier inside the node namespace it was
 * started in (`ip netns exec NODE node proxy-userspace-node.mjs --node-ip IP`),
 * until the agent exists to do so. Reads JSON lines on stdin —
 * `{"sync": [manifest objects]}` or `{"metrics": true}` — and answers each
 * with one JSON line. Closing stdin stops the proxier, which removes its rules.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { ClusterSnapshot } from '../../src/api/cluster-state.js';
import type { Endpoints } from '../../src/api/endpoints.js';
import { validateObject } from '../../src/api/object.js';
import type { Service } from '../../src/api/service.js';
import { parsePortRange } from '../../src/ipam/node-ports.js';
import { RestoreRunner } from '../../src/kernel/iptables/restore-runner.js';
import { registry } from '../../src/observe/metrics.js';
import { UserspaceProxier } from '../../src/proxy-userspace/userspace-proxier.js';

const { values } = parseArgs({
  options: {
    'node-ip': { type: 'string' },
    'iptables-backend': { type: 'string', default: 'nft' },
    'proxy-port-range': { type: 'string' },
    'udp-timeout': { type: 'string' },
    'iptables-sync-period': { type: 'string' },
    // As the agent's flag, with its KEEL_USERSPACE_RELAY twin: the e2e suite runs against either relay.
    'userspace-relay': { type: 'string', default: process.env.KEEL_USERSPACE_RELAY ?? 'native' },
  },
});
const nodeIP = values['node-ip'];
if (!nodeIP) throw new Error('--node-ip is required');
const range = values['proxy-port-range'];
const udpTimeout = values['udp-timeout'];
const syncPeriod = values['iptables-sync-period'];
const relay = values['userspace-relay'];

const proxier = new UserspaceProxier({
  runner: new RestoreRunner({ backend: values['iptables-backend'] === 'legacy' ? 'legacy' : 'nft' }),
  node: { nodeIP },
  ...(range ? { portRange: parsePortRange(range, '--proxy-port-range') } : {}),
  ...(udpTimeout ? { udpTimeoutMs: Number(udpTimeout) } : {}),
  ...(syncPeriod ? { syncPeriodMs: Number(syncPeriod) } : {}),
  relay: relay === 'node' ? 'node' : 'native',
});
// Stopped below, after stdin closes, so the rules are gone before exit.
const running = new AbortController();
void proxier.start(running.signal);

let revision = 0;
/** Keys of the previous sync: a deleted object is a changed key too, as ClusterWatch reports it. */
let previous = new Set<string>();
const reply = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

for await (const line of createInterface({ input: process.stdin })) {
  try {
    const msg = JSON.parse(line) as { sync?: unknown[]; metrics?: boolean };
    if (msg.sync) {
      const services = new Map<string, Service>();
      const endpoints = new Map<string, Endpoints>();
      for (const raw of msg.sync) {
        const o = validateObject(raw);
        const key = `${o.metadata.namespace}/${o.metadata.name}`;
        if (o.kind === 'Service') services.set(key, o);
        if (o.kind === 'Endpoints') endpoints.set(key, o);
      }
      const snapshot: ClusterSnapshot = { revision: ++revision, services, endpoints, pods: new Map() };
      const present = new Set([...services.keys(), ...endpoints.keys()]);
      const keys = new Set([...present, ...previous]);
      previous = present;
      proxier.update(snapshot, { services: keys, endpoints: keys, pods: new Set(), full: revision === 1 });
      await proxier.flush();
      reply({ ports: Object.fromEntries(proxier.proxyPorts()) });
    } else if (msg.metrics) {
      reply({ metrics: await registry.metrics() });
    }
  } catch (err) {
    reply({ error: err instanceof Error ? err.message : String(err) });
  }
}
running.abort();
await proxier.stop();
process.exit(0);
