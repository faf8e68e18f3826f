import { UsageError } from '../api/errors.js';
import { sandboxUp } from '../sandbox/up.js';
import { DEFAULT_NODE_PORT_RANGE } from '../ipam/node-ports.js';
import { DEMO_MANIFESTS, demoNextSteps, waitForDemo } from '../sandbox/demo.js';
import {
  IP_FAMILY_MODES,
  clusterNetworks,
  describeEtcd,
  sandboxEtcdConnection,
  type IpFamilyMode,
  type SandboxState,
} from '../sandbox/sandbox-state.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { ObjectStore } from '../store/object-store.js';
import { applyManifests } from './apply.js';
import { ipamConfig } from './ipam-flags.js';
import type { ProgramPathFlags, RunDirFlags } from './sandbox-flags.js';

interface UpFlags extends RunDirFlags, ProgramPathFlags {
  nodes: number;
  proxyMode: string;
  backend: string;
  agents: boolean;
  demo?: boolean;
  etcdMembers: number;
  etcdTls?: boolean;
  ipFamily: string;
}

export async function runUp(flags: UpFlags): Promise<void> {
  if (!['iptables', 'nftables', 'userspace'].includes(flags.proxyMode))
    throw new UsageError(`--proxy-mode: ${JSON.stringify(flags.proxyMode)} must be iptables, nftables or userspace`);
  if (!['vxlan', 'udp', 'host-gw'].includes(flags.backend))
    throw new UsageError(`--backend: ${JSON.stringify(flags.backend)} must be vxlan, udp or host-gw`);
  if (!(IP_FAMILY_MODES as readonly string[]).includes(flags.ipFamily))
    throw new UsageError(`--ip-family: ${JSON.stringify(flags.ipFamily)} must be ${IP_FAMILY_MODES.join(', ')}`);
  const { state } = await sandboxUp({
    runDir: flags.runDir,
    nodes: Number(flags.nodes),
    proxyMode: flags.proxyMode,
    backend: flags.backend,
    agents: flags.agents,
    programPath: flags.programPath,
    etcdMembers: Number(flags.etcdMembers),
    etcdTls: flags.etcdTls === true,
    ipFamily: flags.ipFamily as IpFamilyMode,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(
    `sandbox ${state.id} is up (${state.nodes.length} nodes, ${state.ipFamily ?? 'ipv4'}, proxy ${state.proxyMode}, backend ${state.backend}, etcd ${describeEtcd(state)}); keel commands now use its etcd.\n`,
  );
  const conn = sandboxEtcdConnection(state);
  const tls = conn.cafile
    ? ` KEEL_ETCD_CAFILE=${conn.cafile} KEEL_ETCD_CERTFILE=${conn.certfile ?? ''} KEEL_ETCD_KEYFILE=${conn.keyfile ?? ''}`
    : '';
  process.stdout.write(`export KEEL_ETCD_ENDPOINTS=${conn.endpoints.join(',')}${tls}\n`);
  if (flags.demo) await startDemo(state);
}

/** Seed 004 on the running sandbox: apply (unchanged on a second run), wait until it answers, say what to try. */
async function startDemo(state: SandboxState): Promise<void> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const conn = sandboxEtcdConnection(state);
  const client = createEtcdClient(conn);
  try {
    const objects = new ObjectStore(new KvStore(client, conn.endpoints), '/registry');
    const ipam = ipamConfig({ serviceClusterIpRange: clusterNetworks(state).serviceRange, serviceNodePortRange: DEFAULT_NODE_PORT_RANGE });
    await applyManifests(objects, [DEMO_MANIFESTS], ipam, say);
    const view = await waitForDemo(state, objects);
    say('');
    for (const line of demoNextSteps(state, view)) say(line);
  } finally {
    client.close();
  }
}
