import { execa } from 'execa';
import { KeelError } from '../api/errors.js';

const CNI_PATH = '/usr/lib/cni';

export interface CniCall {
  /** The node namespace: the bridge plugin makes cni0 and the host-side veth there. */
  nodeNetns: string;
  podNetns: string;
  containerId: string;
  /** The conflist text (`keel network cni-config`). */
  conflist: string;
}

interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

/**
 * Runs a conflist's plugins as a container runtime does (libcni's
 * AddNetworkList): in order, each given the previous one's result; the
 * plugins run inside the node's namespace.
 */
export async function cniAdd(call: CniCall): Promise<{ ips: string[]; result: unknown }> {
  const list = JSON.parse(call.conflist) as Conflist;
  let prev: unknown;
  for (const plugin of list.plugins) {
    prev = await runPlugin('ADD', call, { ...plugin, cniVersion: list.cniVersion, name: list.name, ...(prev ? { prevResult: prev } : {}) });
  }
  // One address per range of host-local's config: one per family on a dual-stack node, in the conflist's order.
  const ips = ((prev as { ips?: { address?: string }[] } | undefined)?.ips ?? []).flatMap((i) => i.address?.split('/')[0] ?? []);
  if (ips.length === 0) throw new KeelError('KEEL_CONFIG', 'CNI result carries no IP address', { subject: `pod netns ${call.podNetns}` });
  return { ips, result: prev };
}

/** DEL in reverse order; errors are ignored, as a runtime must be able to clean up half-made pods. */
export async function cniDel(call: CniCall): Promise<void> {
  const list = JSON.parse(call.conflist) as Conflist;
  for (const plugin of [...list.plugins].reverse()) {
    await runPlugin('DEL', call, { ...plugin, cniVersion: list.cniVersion, name: list.name }).catch(() => undefined);
  }
}

async function runPlugin(command: 'ADD' | 'DEL', call: CniCall, config: Record<string, unknown>): Promise<unknown> {
  const type = String(config.type);
  const res = await execa('ip', ['netns', 'exec', call.nodeNetns, `${CNI_PATH}/${type}`], {
    input: JSON.stringify(config),
    reject: false,
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: `/var/run/netns/${call.podNetns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH,
    },
  });
  if (res.exitCode !== 0) {
    let msg = String(res.stdout || res.stderr).trim();
    try {
      const err = JSON.parse(msg) as { msg?: string; details?: string };
      msg = [err.msg, err.details].filter(Boolean).join(': ');
    } catch {
      // not the CNI error format
    }
    throw new KeelError('KEEL_CONFIG', `CNI ${type} ${command}: ${msg || `exit ${res.exitCode}`}`, {
      subject: `pod netns ${call.podNetns}`,
    });
  }
  return command === 'ADD' && String(res.stdout).trim() ? JSON.parse(String(res.stdout)) : undefined;
}
