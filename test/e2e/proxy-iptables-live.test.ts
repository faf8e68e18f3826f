/**
 * From etcd to the kernel: real etcd (shared test server, unique prefix),
 * ClusterWatch feeding SyncLoop, rules loaded into a namespace's nft tables.
 * Also `keel rules` live mode's one-shot read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSnapshot, nodeConfig } from '../../src/cli/rules.js';
import { RestoreRunner } from '../../src/kernel/iptables/restore-runner.js';
import { setLogSink } from '../../src/observe/log.js';
import { compileRules, DEFAULT_MASQUERADE_BIT } from '../../src/proxy-iptables/compile.js';
import { renderRestore } from '../../src/proxy-iptables/render-restore.js';
import { SyncLoop } from '../../src/proxy-iptables/sync-loop.js';
import type { KvStore } from '../../src/store/kv-store.js';
import { ClusterWatch } from '../../src/watch/cluster-watch.js';
import { connectStore, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { NetnsLab } from './proxy-iptables-lab.js';

setLogSink({ write: () => undefined });
const lab = new NetnsLab();
const prefix = uniquePrefix('proxy-iptables');
let kv: KvStore;
const ac = new AbortController();

const service = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name: 'web' },
  spec: { clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080 }] },
});
const endpoints = (ip: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: 'default', name: 'web' },
    subsets: [{ addresses: [{ ip }], ports: [{ port: 8080 }] }],
  });

beforeAll(async () => {
  kv = connectStore();
  await kv.txn(
    [],
    [
      { put: `${prefix}/services/specs/default/web`, value: service },
      { put: `${prefix}/services/endpoints/default/web`, value: endpoints('10.244.1.5') },
    ],
  );
});

afterAll(async () => {
  ac.abort();
  await kv.txn([], [{ delete: `${prefix}/services/specs/default/web` }, { delete: `${prefix}/services/endpoints/default/web` }]);
  kv.close();
  await lab.destroy();
});

describe('etcd → ClusterWatch → SyncLoop → kernel', () => {
  it('programs the rules after the first list and follows an endpoint change', async () => {
    const ns = await lab.netns('live');
    const runner = new RestoreRunner({ backend: 'nft', netns: ns });
    const loop = new SyncLoop({
      runner,
      node: { nodeName: 'node-1', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT },
    });
    const watch = new ClusterWatch({ store: kv, prefix });
    watch.subscribe(loop.update);
    await watch.start(ac.signal);
    const running = loop.start(ac.signal);
    await expect.poll(() => runner.save('nat'), { timeout: 20_000 }).toContain('--to-destination 10.244.1.5:8080');
    const entry = await kv.get(`${prefix}/services/endpoints/default/web`);
    await kv.updateAt(`${prefix}/services/endpoints/default/web`, endpoints('10.244.2.9'), entry?.modRevision ?? 0);
    await expect.poll(() => runner.save('nat'), { timeout: 20_000 }).toContain('--to-destination 10.244.2.9:8080');
    expect(await runner.save('nat')).not.toContain('10.244.1.5');
    ac.abort();
    await running;
  });

  it('keel rules reads one consistent snapshot from etcd', async () => {
    const flags = {
      etcdEndpoints: etcdEndpoint(),
      etcdPrefix: prefix,
      nodeName: 'node-1',
      clusterCidr: '10.244.0.0/16',
      iptablesBackend: 'nft',
      serviceClusterIpRange: '10.96.0.0/12',
      serviceNodePortRange: '30000-32767',
    };
    const text = renderRestore(compileRules(await loadSnapshot(flags), nodeConfig(flags)));
    expect(text).toContain('-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web cluster IP"');
  });
});
