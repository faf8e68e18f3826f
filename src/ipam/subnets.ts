import { ConfigError } from '../api/errors.js';
import { cidrContains, ipFromValue, parseCidr, type Cidr } from '../api/ip.js';
import type { PickIndex } from './service-ips.js';

/** flannel's network config fields that shape node subnets. */
export interface SubnetConfig {
  network: Cidr;
  subnetLen: number;
  /** First and last subnet (as CIDRs of subnetLen) that may be leased. */
  subnetMin?: Cidr;
  subnetMax?: Cidr;
}

/**
 * Builds the config with flannel's defaults: SubnetLen 24 (two bits past
 * the network when it is smaller than a /22), SubnetMin the second subnet
 * of the network, SubnetMax the last one.
 */
export function subnetConfig(network: string, subnetLen?: number, subnetMin?: string, subnetMax?: string): SubnetConfig {
  const net = parseCidr(network);
  if (!net) throw new ConfigError('Network', `${JSON.stringify(network)} is not a CIDR`);
  const bits = net.family === 4 ? 32 : 128;
  const len = subnetLen ?? (net.family === 4 ? (net.prefixLength > 22 ? net.prefixLength + 2 : 24) : 64);
  if (!Number.isInteger(len) || len <= net.prefixLength || len > bits - 2) {
    throw new ConfigError('SubnetLen', `${len} must be longer than the network's /${net.prefixLength} and at most /${bits - 2}`);
  }
  const cfg: SubnetConfig = { network: net, subnetLen: len };
  const bound = (text: string | undefined, field: 'SubnetMin' | 'SubnetMax'): Cidr | undefined => {
    if (text === undefined) return undefined;
    const c = parseCidr(text.includes('/') ? text : `${text}/${len}`);
    if (!c || c.prefixLength !== len || !cidrContains(net, ipFromValue(c.family, c.first))) {
      throw new ConfigError(field, `${JSON.stringify(text)} is not a /${len} subnet inside ${net.text}`);
    }
    return c;
  };
  const min = bound(subnetMin, 'SubnetMin');
  const max = bound(subnetMax, 'SubnetMax');
  if (min) cfg.subnetMin = min;
  if (max) cfg.subnetMax = max;
  if (min && max && min.first > max.first) throw new ConfigError('SubnetMin', `${min.text} is after SubnetMax ${max.text}`);
  return cfg;
}

/** The index range [lo, hi] of leasable subnets; flannel skips the network's first subnet by default. */
function subnetRange(cfg: SubnetConfig): { lo: bigint; hi: bigint; step: bigint } {
  const bits = cfg.network.family === 4 ? 32 : 128;
  const step = 1n << BigInt(bits - cfg.subnetLen);
  const count = cfg.network.size / step;
  const lo = cfg.subnetMin ? (cfg.subnetMin.first - cfg.network.first) / step : 1n;
  const hi = cfg.subnetMax ? (cfg.subnetMax.first - cfg.network.first) / step : count - 1n;
  return { lo, hi, step };
}

function subnetAt(cfg: SubnetConfig, index: bigint): Cidr {
  const { step } = subnetRange(cfg);
  const base = ipFromValue(cfg.network.family, cfg.network.first + index * step);
  return parseCidr(`${base.text}/${cfg.subnetLen}`) as Cidr;
}

/** A free subnet, or undefined when every leasable subnet is taken. `taken` holds subnet CIDR texts. */
export function chooseSubnet(cfg: SubnetConfig, taken: ReadonlySet<string>, pick: PickIndex): Cidr | undefined {
  const { lo, hi } = subnetRange(cfg);
  const n = hi - lo + 1n;
  if (n <= 0n) return undefined;
  const start = pick(n);
  for (let i = 0n; i < n; i++) {
    const subnet = subnetAt(cfg, lo + ((start + i) % n));
    if (!taken.has(subnet.text)) return subnet;
  }
  return undefined;
}
