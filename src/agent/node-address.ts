import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { ConfigError } from '../api/errors.js';

/**
 * The node's underlay address, as flannel picks it: the interface given
 * (`--iface`), else the interface of the IPv4 default route. Read from
 * /proc and the OS, so it works inside a network namespace too.
 */
export function nodeAddress(iface?: string): { iface: string; ip: string } {
  const name = iface ?? defaultRouteInterface();
  if (!name) throw new ConfigError('--iface', 'no IPv4 default route to take the node address from; give --iface or --node-ip');
  const addrs = networkInterfaces()[name];
  if (!addrs) throw new ConfigError('--iface', `no interface named ${JSON.stringify(name)}`);
  const v4 = addrs.find((a) => a.family === 'IPv4' && !a.internal) ?? addrs.find((a) => a.family === 'IPv4');
  if (!v4) throw new ConfigError('--iface', `interface ${name} has no IPv4 address`);
  return { iface: name, ip: v4.address };
}

function defaultRouteInterface(): string | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return undefined;
  }
  const routes = text
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/));
  // Destination 00000000 with mask 00000000 is the default route; the lowest metric wins.
  const defaults = routes.filter((r) => r[1] === '00000000' && r[7] === '00000000').sort((a, b) => Number(a[6]) - Number(b[6]));
  return defaults[0]?.[0];
}
