import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../api/errors.js';
import { ipFromValue, parseCidr, type Cidr } from '../api/ip.js';

/** What the CNI side needs to know about this node, as flannel's subnet.env holds it. */
export interface SubnetEnv {
  /** The IPv4 pod network and node subnet (network address form, e.g. 10.244.1.0/24); absent on an IPv6-only network. */
  network?: Cidr;
  subnet?: Cidr;
  /** FLANNEL_IPV6_NETWORK and FLANNEL_IPV6_SUBNET, with EnableIPv6. */
  ipv6Network?: Cidr;
  ipv6Subnet?: Cidr;
  mtu: number;
  ipMasq: boolean;
}

export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';

/** flannel's WriteSubnetFile text: each family present writes its pair, FLANNEL_*SUBNET carrying the subnet's first host address. */
export function renderSubnetEnv(env: SubnetEnv): string {
  const firstHost = (s: Cidr): string => `${ipFromValue(s.family, s.first + 1n).text}/${s.prefixLength}`;
  let text = '';
  if (env.network && env.subnet) text += `FLANNEL_NETWORK=${env.network.text}\nFLANNEL_SUBNET=${firstHost(env.subnet)}\n`;
  if (env.ipv6Network && env.ipv6Subnet) {
    text += `FLANNEL_IPV6_NETWORK=${env.ipv6Network.text}\nFLANNEL_IPV6_SUBNET=${firstHost(env.ipv6Subnet)}\n`;
  }
  return `${text}FLANNEL_MTU=${env.mtu}\nFLANNEL_IPMASQ=${env.ipMasq}\n`;
}

export function parseSubnetEnv(text: string, subject = 'subnet.env'): SubnetEnv {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) vars.set(m[1] as string, (m[2] as string).trim());
  }
  /** A family's pair: both or neither (FLANNEL_SUBNET without FLANNEL_NETWORK is a broken file). */
  const pair = (netVar: string, subnetVar: string, family: 4 | 6): { network: Cidr; subnet: Cidr } | undefined => {
    const net = vars.get(netVar);
    const sub = vars.get(subnetVar);
    if (net === undefined && sub === undefined) return undefined;
    if (net === undefined) throw new ConfigError(subject, `${netVar} is missing`);
    if (sub === undefined) throw new ConfigError(subject, `${subnetVar} is missing`);
    const network = parseCidr(net);
    const subnet = parseCidr(sub);
    if (network?.family !== family) throw new ConfigError(subject, `${netVar}=${net} is not an IPv${family} CIDR`);
    if (subnet?.family !== family) throw new ConfigError(subject, `${subnetVar}=${sub} is not an IPv${family} CIDR`);
    return { network, subnet };
  };
  const v4 = pair('FLANNEL_NETWORK', 'FLANNEL_SUBNET', 4);
  const v6 = pair('FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET', 6);
  if (!v4 && !v6) throw new ConfigError(subject, 'FLANNEL_NETWORK and FLANNEL_SUBNET are missing (and no FLANNEL_IPV6_NETWORK)');
  const mtu = Number(vars.get('FLANNEL_MTU') ?? '1500');
  if (!Number.isInteger(mtu) || mtu < 68) throw new ConfigError(subject, `FLANNEL_MTU=${vars.get('FLANNEL_MTU') ?? ''} is not an MTU`);
  return { ...v4, ...(v6 ? { ipv6Network: v6.network, ipv6Subnet: v6.subnet } : {}), mtu, ipMasq: vars.get('FLANNEL_IPMASQ') === 'true' };
}

/** Atomic replace, so a CNI plugin never reads half a file. */
export async function writeSubnetEnv(path: string, env: SubnetEnv): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, renderSubnetEnv(env), { mode: 0o644 });
  await rename(tmp, path);
}

/** The previous run's subnet.env, or undefined when there is none or it is unreadable. */
export async function readSubnetEnv(path: string): Promise<SubnetEnv | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return parseSubnetEnv(text, path);
  } catch {
    return undefined;
  }
}
