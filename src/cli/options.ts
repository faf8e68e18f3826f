import { Option, type Command } from 'commander';
import { UsageError } from '../api/errors.js';
import { SUBNET_SOURCES, type SubnetSourceName } from '../overlay/subnet-source.js';

/**
 * An option whose value can also come from `KEEL_<NAME>` (`--etcd-endpoints`
 * → `KEEL_ETCD_ENDPOINTS`): every flag of keel has this environment twin.
 */
export function keelOption(
  flags: string,
  description: string,
  defaultValue?: string | boolean | number,
  defaultDescription?: string,
): Option {
  const opt = new Option(flags, description);
  const long = opt.long?.replace(/^--(no-)?/, '') ?? '';
  opt.env(`KEEL_${long.toUpperCase().replace(/-/g, '_')}`);
  if (defaultValue !== undefined) opt.default(defaultValue, defaultDescription);
  return opt;
}

export interface EtcdFlags {
  etcdEndpoints?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  etcdPrefix: string;
}

export const DEFAULT_ETCD_ENDPOINT = 'http://127.0.0.1:2379';

export function addEtcdOptions(cmd: Command): Command {
  return cmd
    .addOption(
      keelOption(
        '--etcd-endpoints <urls>',
        `comma-separated etcd URLs (http://, https://, unix:///) [default: the keel-up sandbox's, else ${DEFAULT_ETCD_ENDPOINT}]`,
      ),
    )
    .addOption(keelOption('--etcd-cafile <file>', 'CA certificate for etcd TLS'))
    .addOption(keelOption('--etcd-certfile <file>', 'client certificate for etcd TLS'))
    .addOption(keelOption('--etcd-keyfile <file>', 'client key for etcd TLS'))
    .addOption(keelOption('--etcd-prefix <prefix>', 'prefix of the Kubernetes objects in etcd', '/registry'));
}

export function registryPrefix(flags: EtcdFlags): string {
  const p = flags.etcdPrefix.replace(/\/+$/, '');
  if (!p.startsWith('/')) throw new UsageError(`--etcd-prefix: ${JSON.stringify(flags.etcdPrefix)} must start with "/"`);
  return p;
}

export function parseIntFlag(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${name}: ${JSON.stringify(value)} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Go-style durations as kube-proxy takes them: 250ms, 30s, 1m, 1h30m. */
export function parseDuration(name: string) {
  return (value: string): number => {
    const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
    if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value) && value !== '0') {
      throw new UsageError(`${name}: ${JSON.stringify(value)} is not a duration like 250ms, 30s or 1m`);
    }
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
    return parts.reduce((sum, m) => sum + Number(m[1]) * unit[m[2] as keyof typeof unit], 0);
  };
}

export interface SubnetSourceFlags {
  subnetSource: string;
  nodeName?: string;
}

/** --subnet-source (KEEL_SUBNET_SOURCE) for the commands that run the overlay. */
export function addSubnetSourceOption(cmd: Command): Command {
  return cmd.addOption(
    keelOption(
      '--subnet-source <source>',
      "where node subnets come from: etcd (leases under --subnet-prefix, flannel's etcd mode) or node (each Node's spec.podCIDR, flannel's kube-subnet-mgr)",
      'etcd',
    ),
  );
}

export function subnetSourceOf(flags: SubnetSourceFlags): SubnetSourceName {
  if (!(SUBNET_SOURCES as readonly string[]).includes(flags.subnetSource)) {
    throw new UsageError(`--subnet-source: "${flags.subnetSource}" is not one of ${SUBNET_SOURCES.join(', ')}`);
  }
  return flags.subnetSource as SubnetSourceName;
}
