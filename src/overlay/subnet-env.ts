import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../api/errors.js';
import { ipFromValue, parseCidr, type Cidr } from '../api/ip.js';

/** What the CNI side needs to know about this node, as flannel's subnet.env holds it. */
export interface SubnetEnv {
  network: Cidr;
  /** The node subnet (network address form, e.g. 10.244.1.0/24). */
  subnet: Cidr;
  mtu: number;
  ipMasq: boolean;
}

export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';

/** flannel's exact text: FLANNEL_SUBNET carries the subnet's first host address. */
export function renderSubnetEnv(env: SubnetEnv): string {
  const firstHost = ipFromValue(env.subnet.family, env.subnet.first + 1n);
  return `FLANNEL_NETWORK=${env.network.text}\nFLANNEL_SUBNET=${firstHost.text}/${env.subnet.prefixLength}\nFLANNEL_MTU=${env.mtu}\nFLANNEL_IPMASQ=${env.ipMasq}\n`;
}

export function parseSubnetEnv(text: string, subject = 'subnet.env'): SubnetEnv {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) vars.set(m[1] as string, (m[2] as string).trim());
  }
  const need = (name: string): string => {
    const v = vars.get(name);
    if (v === undefined) throw new ConfigError(subject, `${name} is missing`);
    return v;
  };
  const network = parseCidr(need('FLANNEL_NETWORK'));
  const subnet = parseCidr(need('FLANNEL_SUBNET'));
  if (!network) throw new ConfigError(subject, `FLANNEL_NETWORK=${need('FLANNEL_NETWORK')} is not a CIDR`);
  if (!subnet) throw new ConfigError(subject, `FLANNEL_SUBNET=${need('FLANNEL_SUBNET')} is not a CIDR`);
  const mtu = Number(vars.get('FLANNEL_MTU') ?? '1500');
  if (!Number.isInteger(mtu) || mtu < 68) throw new ConfigError(subject, `FLANNEL_MTU=${vars.get('FLANNEL_MTU') ?? ''} is not an MTU`);
  return { network, subnet, mtu, ipMasq: vars.get('FLANNEL_IPMASQ') === 'true' };
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
