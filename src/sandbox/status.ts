import { execa } from 'execa';
import { LeaseStore } from '../overlay/lease-store.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { ObjectStore } from '../store/object-store.js';
import { isRunning } from './processes.js';
import { etcdSocketUrl, type SandboxState } from './sandbox-state.js';

export interface NodeStatus {
  name: string;
  ip: string;
  netns: string;
  agent: 'none' | 'stopped' | 'healthy' | 'unhealthy';
  agentPid?: number;
}

export interface SandboxStatus {
  etcd: boolean;
  controller: boolean;
  nodes: NodeStatus[];
  leases: { subnet: string; publicIp: string; backend: string }[];
  services: { name: string; type: string; clusterIP: string; ports: string }[];
  pods: { name: string; node: string; podIP: string; ready: boolean }[];
  error?: string;
}

/** Reads what is running and what etcd holds; etcd being down is reported, not thrown. */
export async function sandboxStatus(state: SandboxState): Promise<SandboxStatus> {
  const nodes = await Promise.all(state.nodes.map(async (n): Promise<NodeStatus> => {
    const base = { name: n.name, ip: n.ip, netns: n.netns };
    if (!n.agent) return { ...base, agent: 'none' };
    if (!isRunning(n.agent)) return { ...base, agent: 'stopped', agentPid: n.agent.pid };
    // /healthz listens on the node's own loopback, reachable only from inside its namespace.
    const res = await execa('ip', ['netns', 'exec', n.netns, 'curl', '-sf', '-m', '1', 'http://127.0.0.1:10249/healthz'], { reject: false });
    return { ...base, agent: res.exitCode === 0 ? 'healthy' : 'unhealthy', agentPid: n.agent.pid };
  }));
  const status: SandboxStatus = { etcd: isRunning(state.etcd.process), controller: isRunning(state.controller), nodes, leases: [], services: [], pods: [] };
  if (!status.etcd) return status;
  const url = etcdSocketUrl(state.runDir);
  const client = createEtcdClient({ endpoints: [url], callTimeoutMs: 3_000 });
  try {
    const kv = new KvStore(client, [url]);
    const leases = await new LeaseStore(kv).list();
    status.leases = leases.leases.map((l) => ({ subnet: l.subnet.text, publicIp: l.attrs.publicIp.text, backend: l.attrs.backendType }));
    const snap = await new ObjectStore(kv, '/registry').readSnapshot();
    status.services = [...snap.services.values()].map((s) => ({
      name: `${s.metadata.namespace}/${s.metadata.name}`,
      type: s.spec.type,
      clusterIP: s.spec.clusterIP ?? '',
      ports: s.spec.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`).join(','),
    }));
    status.pods = [...snap.pods.values()].map((p) => ({
      name: `${p.metadata.namespace}/${p.metadata.name}`,
      node: p.spec.nodeName ?? '',
      podIP: p.status?.podIP ?? '',
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    }));
  } catch (err) {
    status.error = (err as Error).message.split('\n')[0] ?? String(err);
  } finally {
    client.close();
  }
  return status;
}
