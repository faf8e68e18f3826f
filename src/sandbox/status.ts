import { execa } from 'execa';
import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { EndpointsSource } from '../api/endpoint-slice.js';
import { leaseFamilies, type Lease } from '../overlay/lease.js';
import { LeaseStore } from '../overlay/lease-store.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { ObjectStore } from '../store/object-store.js';
import { isRunning } from './processes.js';
import { sandboxEtcdConnection, underlayIps, type SandboxEtcdMember, type SandboxState } from './sandbox-state.js';

export interface NodeStatus {
  name: string;
  /** Its underlay addresses (two in a dual-stack sandbox). */
  ips: string[];
  netns: string;
  agent: 'none' | 'stopped' | 'healthy' | 'unhealthy';
  agentPid?: number;
}

export interface EtcdMemberStatus {
  name: string;
  ip: string;
  /** healthy: answers a quorum read; no-quorum: runs and answers its own status only. */
  health: 'stopped' | 'healthy' | 'no-quorum' | 'not-answering';
  pid?: number;
  leader: boolean;
  revision?: string;
  dbSizeBytes?: number;
}

export interface SandboxStatus {
  /** At least one member answers. */
  etcd: boolean;
  members: EtcdMemberStatus[];
  controller: boolean;
  nodes: NodeStatus[];
  leases: { subnet: string; publicIp: string; backend: string }[];
  services: { name: string; type: string; clusterIP: string; ports: string }[];
  pods: { name: string; node: string; podIP: string; ready: boolean }[];
  /** What the tables above were projected from, for `keel status -o dot`; absent when etcd could not be read. */
  cluster?: { snapshot: ClusterSnapshot; leases: Lease[] };
  error?: string;
}

/** Reads what is running and what etcd holds; etcd being down is reported, not thrown. */
export async function sandboxStatus(state: SandboxState, endpointsSource: EndpointsSource = 'auto'): Promise<SandboxStatus> {
  const nodes = await Promise.all(
    state.nodes.map(async (n): Promise<NodeStatus> => {
      const base = { name: n.name, ips: underlayIps(n), netns: n.netns };
      if (!n.agent) return { ...base, agent: 'none' };
      if (!isRunning(n.agent)) return { ...base, agent: 'stopped', agentPid: n.agent.pid };
      // /healthz listens on the node's own loopback, reachable only from inside its namespace.
      const res = await execa('ip', ['netns', 'exec', n.netns, 'curl', '-sf', '-m', '1', 'http://127.0.0.1:10249/healthz'], {
        reject: false,
      });
      return { ...base, agent: res.exitCode === 0 ? 'healthy' : 'unhealthy', agentPid: n.agent.pid };
    }),
  );
  const members = await Promise.all(state.etcd.members.map((m) => memberStatus(state, m)));
  const status: SandboxStatus = {
    etcd: members.some((m) => m.health === 'healthy'),
    members,
    controller: isRunning(state.controller),
    nodes,
    leases: [],
    services: [],
    pods: [],
  };
  if (!status.etcd) return status;
  const conn = sandboxEtcdConnection(
    state,
    state.etcd.members.filter((m) => isRunning(m.process)),
  );
  const client = createEtcdClient({ ...conn, callTimeoutMs: 3_000 });
  try {
    const kv = new KvStore(client, conn.endpoints);
    const leases = await new LeaseStore(kv).list();
    status.leases = leases.leases.map((l) => {
      const f = leaseFamilies(l);
      return { subnet: f.subnets.join(','), publicIp: f.publicIps.join(','), backend: l.attrs.backendType };
    });
    const snap = await new ObjectStore(kv, '/registry').readSnapshot(endpointsSource);
    status.services = [...snap.services.values()].map((s) => ({
      name: `${s.metadata.namespace}/${s.metadata.name}`,
      type: s.spec.type,
      clusterIP: (s.spec.clusterIPs ?? (s.spec.clusterIP ? [s.spec.clusterIP] : [])).join(','),
      ports: s.spec.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`).join(','),
    }));
    status.pods = [...snap.pods.values()].map((p) => ({
      name: `${p.metadata.namespace}/${p.metadata.name}`,
      node: p.spec.nodeName ?? '',
      podIP: (p.status?.podIPs?.map((a) => a.ip) ?? (p.status?.podIP ? [p.status.podIP] : [])).join(','),
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    }));
    status.cluster = { snapshot: snap, leases: leases.leases };
  } catch (err) {
    status.error = (err as Error).message.split('\n')[0] ?? String(err);
  } finally {
    client.close();
  }
  return status;
}

/** One member's own view (`etcdctl endpoint status` and `endpoint health` in one), asked over its socket alone. */
async function memberStatus(state: SandboxState, member: SandboxEtcdMember): Promise<EtcdMemberStatus> {
  const base = { name: member.name, ip: member.ip, leader: false, ...(member.process ? { pid: member.process.pid } : {}) };
  if (!isRunning(member.process)) return { ...base, health: 'stopped' };
  const client = createEtcdClient({ ...sandboxEtcdConnection(state, [member]), callTimeoutMs: 1_500 });
  try {
    const s = await client.maintenance.status();
    const own = { ...base, leader: s.leader === s.header.member_id, revision: s.header.revision, dbSizeBytes: Number(s.dbSize) };
    try {
      await client.get('/keel-sandbox-ping').string();
      return { ...own, health: 'healthy' };
    } catch {
      return { ...own, health: 'no-quorum' };
    }
  } catch {
    return { ...base, health: 'not-answering' };
  } finally {
    client.close();
  }
}
