import type { EtcdPki } from './etcd-pki.js';
import { hostPort } from './sandbox-state.js';

export interface EtcdMemberSpec {
  name: string;
  /** Underlay address: clients on 2379, peers on 2380. */
  ip: string;
  dataDir: string;
  /** Unix socket for clients without an underlay address, relative to etcd's working directory. */
  socket: string;
}

export interface EtcdClusterSpec {
  members: readonly Pick<EtcdMemberSpec, 'name' | 'ip'>[];
  token: string;
  /** Client and peer TLS, both with certificate authentication; absent: plain http. */
  pki?: EtcdPki;
  /** The socket speaks TLS too (`unixs://`); false leaves it plaintext for a test's own writes. */
  socketTls: boolean;
  logLevel: 'error' | 'warn' | 'info';
}

/**
 * The etcd command line of one member. `existing` rejoins with the data it
 * has (etcd ignores the initial-cluster flags once its data dir holds a
 * member); `new` bootstraps the cluster with the others.
 */
export function etcdMemberArgs(member: EtcdMemberSpec, cluster: EtcdClusterSpec, state: 'new' | 'existing'): string[] {
  const scheme = cluster.pki ? 'https' : 'http';
  const peer = `${scheme}://${hostPort(member.ip, 2380)}`;
  const client = `${scheme}://${hostPort(member.ip, 2379)}`;
  const socket = `${cluster.pki && cluster.socketTls ? 'unixs' : 'unix'}://${member.socket}`;
  const args = [
    'etcd',
    '--name',
    member.name,
    '--data-dir',
    member.dataDir,
    '--listen-client-urls',
    `${client},${socket}`,
    '--advertise-client-urls',
    client,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    cluster.members.map((m) => `${m.name}=${scheme}://${hostPort(m.ip, 2380)}`).join(','),
    '--initial-cluster-state',
    state,
    '--initial-cluster-token',
    cluster.token,
    '--log-level',
    cluster.logLevel,
    '--logger',
    'zap',
  ];
  const pki = cluster.pki;
  if (pki) {
    args.push(
      '--cert-file',
      pki.serverCert,
      '--key-file',
      pki.serverKey,
      '--trusted-ca-file',
      pki.ca,
      '--client-cert-auth',
      '--peer-cert-file',
      pki.peerCert,
      '--peer-key-file',
      pki.peerKey,
      '--peer-trusted-ca-file',
      pki.ca,
      '--peer-client-cert-auth',
    );
  }
  return args;
}
