import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDetached, type ProcessRef } from './processes.js';
import { etcdClientCredentials } from './etcd-pki.js';
import {
  clusterNetworks,
  etcdClientUrls,
  etcdPkiDir,
  hostPort,
  underlayIps,
  type SandboxNode,
  type SandboxState,
} from './sandbox-state.js';

export const KEEL_BIN = fileURLToPath(new URL('../../../bin/keel.js', import.meta.url));

/** True once `keel agent` is part of this build. */
export function agentAvailable(): boolean {
  return existsSync(fileURLToPath(new URL('../cli/agent.js', import.meta.url)));
}

export function nodeDir(state: SandboxState, node: string): string {
  return join(state.runDir, 'nodes', node);
}

export function subnetFile(state: SandboxState, node: string): string {
  return join(nodeDir(state, node), 'subnet.env');
}

/**
 * The agent's command line on a node: every address explicit (one node IP
 * per family, as kubelet's --node-ip), etcd over the underlay.
 */
function agentArgs(state: SandboxState, node: SandboxNode): string[] {
  const ips = underlayIps(node);
  const networks = clusterNetworks(state);
  return [
    'agent',
    '--node-name',
    node.name,
    '--node-ip',
    ips.join(','),
    '--iface',
    'eth0',
    '--cluster-cidr',
    networks.podNetwork,
    '--service-cluster-ip-range',
    networks.serviceRange,
    '--proxy-mode',
    state.proxyMode,
    '--backend',
    state.backend,
    '--subnet-file',
    subnetFile(state, node.name),
    '--etcd-endpoints',
    etcdClientUrls(state).join(','),
    ...(state.etcd.tls ? tlsFlags(etcdClientCredentials(etcdPkiDir(state.runDir))) : []),
    '--dns-listen',
    ips.map((ip) => hostPort(ip, 53)).join(','),
    '--metrics-bind-address',
    '127.0.0.1:10249',
  ];
}

function tlsFlags(c: { cafile: string; certfile: string; keyfile: string }): string[] {
  return ['--etcd-cafile', c.cafile, '--etcd-certfile', c.certfile, '--etcd-keyfile', c.keyfile];
}

export function startAgent(state: SandboxState, node: SandboxNode): ProcessRef {
  return startDetached({
    netns: node.netns,
    argv: [process.execPath, KEEL_BIN, ...agentArgs(state, node)],
    logFile: join(state.runDir, 'logs', `agent-${node.name}.log`),
  });
}
