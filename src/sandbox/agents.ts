import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDetached, type ProcessRef } from './processes.js';
import { etcdClientCredentials } from './etcd-pki.js';
import { POD_NETWORK, etcdClientUrls, etcdPkiDir, type SandboxNode, type SandboxState } from './sandbox-state.js';

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

/** The agent's command line on a node: every address explicit, etcd over the underlay. */
function agentArgs(state: SandboxState, node: SandboxNode): string[] {
  return [
    'agent',
    '--node-name',
    node.name,
    '--node-ip',
    node.ip,
    '--iface',
    'eth0',
    '--public-ip',
    node.ip,
    '--cluster-cidr',
    POD_NETWORK,
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
    `${node.ip}:53`,
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
