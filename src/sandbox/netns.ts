import { execa } from 'execa';
import { KeelError } from '../api/errors.js';

/**
 * Thin helpers over iproute2. Every link command runs inside a named
 * namespace (`ip -n NS …`), so the sandbox never creates anything in the
 * host's own network namespace, not even for a moment.
 */
export async function ip(args: readonly string[], netns?: string): Promise<string> {
  const argv = netns ? ['-n', netns, ...args] : [...args];
  const res = await execa('ip', argv, { reject: false });
  if (res.exitCode !== 0) {
    throw new KeelError('KEEL_NETLINK_FAILED', `ip ${argv.join(' ')}: ${String(res.stderr).trim() || `exit ${res.exitCode}`}`, {
      subject: netns ? `netns ${netns}` : 'ip',
    });
  }
  return String(res.stdout);
}

export async function listNetns(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Creates the namespace with its loopback up; an existing one is reused. */
export async function createNetns(name: string): Promise<void> {
  if (!(await listNetns()).includes(name)) await ip(['netns', 'add', name]);
  await ip(['link', 'set', 'lo', 'up'], name);
}

/** Deleting a namespace also deletes every link inside it (and veth peers elsewhere). */
export async function deleteNetns(name: string): Promise<boolean> {
  if (!(await listNetns()).includes(name)) return false;
  await ip(['netns', 'delete', name]);
  return true;
}

export interface LinkEnd {
  netns: string;
  name: string;
}

/** A veth pair whose ends are born directly in their namespaces. */
export async function addVethPair(a: LinkEnd, b: LinkEnd): Promise<void> {
  if (await linkExists(a)) return;
  await ip(['link', 'add', a.name, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.netns], a.netns);
}

async function linkExists(end: LinkEnd): Promise<boolean> {
  const res = await execa('ip', ['-n', end.netns, 'link', 'show', 'dev', end.name], { reject: false });
  return res.exitCode === 0;
}

export async function addBridge(netns: string, name: string): Promise<void> {
  if (!(await linkExists({ netns, name }))) await ip(['link', 'add', name, 'type', 'bridge'], netns);
  await ip(['link', 'set', name, 'up'], netns);
}

export async function setMaster(netns: string, link: string, bridge: string): Promise<void> {
  await ip(['link', 'set', link, 'master', bridge], netns);
}

export async function linkUp(netns: string, link: string): Promise<void> {
  await ip(['link', 'set', link, 'up'], netns);
}

/**
 * Adds `cidr` (e.g. 172.30.0.1/24, fd00:172:30::1/64) unless the link
 * already has it; an IPv6 address skips duplicate address detection, so it
 * is usable at once rather than after a second of tentative state.
 */
export async function addAddress(netns: string, link: string, cidr: string): Promise<void> {
  const shown = await ip(['-o', 'addr', 'show', 'dev', link], netns);
  if (shown.includes(` ${cidr} `)) return;
  await ip(['addr', 'add', cidr, 'dev', link, ...(cidr.includes(':') ? ['nodad'] : [])], netns);
}

/**
 * Writes a sysctl inside a namespace. Returns false when the key does not
 * exist there (bridge-nf-call-iptables needs br_netfilter, which the
 * sandbox does not load: loading it would change the host's bridges too).
 */
export async function setSysctl(netns: string, key: string, value: string): Promise<boolean> {
  const res = await execa('ip', ['netns', 'exec', netns, 'sysctl', '-qw', `${key}=${value}`], { reject: false });
  if (res.exitCode === 0) return true;
  if (/cannot stat|No such file/.test(String(res.stderr))) return false;
  throw new KeelError('KEEL_NETLINK_FAILED', `sysctl ${key}=${value}: ${String(res.stderr).trim()}`, { subject: `netns ${netns}` });
}
