import { ConfigError } from '../api/errors.js';
import type { PickIndex } from './service-ips.js';

export interface PortRange {
  min: number;
  max: number;
}

export const DEFAULT_NODE_PORT_RANGE = '30000-32767';

export function parsePortRange(text: string, flag = '--service-node-port-range'): PortRange {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1 || max > 65_535 || min > max)
    throw new ConfigError(flag, `${JSON.stringify(text)} is not a port range like 30000-32767`);
  return { min, max };
}

export function inPortRange(range: PortRange, port: number): boolean {
  return port >= range.min && port <= range.max;
}

export function chooseNodePort(range: PortRange, taken: ReadonlySet<number>, pick: PickIndex): number | undefined {
  const n = range.max - range.min + 1;
  const start = Number(pick(BigInt(n)));
  for (let i = 0; i < n; i++) {
    const port = range.min + ((start + i) % n);
    if (!taken.has(port)) return port;
  }
  return undefined;
}
