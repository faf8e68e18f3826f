import * as crypto from 'node:crypto';
import type { Protocol } from '../api/service.js';
import { cat } from './rule-text.js';

/**
 * Chain names as kube-proxy computes them (portProtoHash and
 * servicePortEndpointChainName): a prefix and the first 16 characters of
 * base32(sha256(identity)), so restarts, other nodes and people who know
 * kube-proxy all see the same names.
 */
const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-'] as const;

/** Chains keel declares once per table and rewrites as a whole. */
export const TOP_CHAINS = {
  nat: ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'],
  filter: ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL'],
} as const;

/**
 * An otherwise unused chain in each table whose one rule tells a cheap
 * periodic sync that nobody flushed or deleted keel's chains (kube-proxy's
 * KUBE-PROXY-CANARY): reading it costs milliseconds, reading the table
 * seconds.
 */
export const CANARY_CHAIN = 'KUBE-KEEL-CANARY';
export const CANARY_RULE = '-j RETURN';

/**
 * Every compile names every chain again (the agent recompiles every
 * service on a full sync) and a sha256 per endpoint was an eighth of
 * compile's CPU at 1k services: names are remembered across compiles
 * (kube-proxy names an endpoint's chain once, when its endpoint info is
 * built). Bounded: past the limit a memory starts over (about 30 MB at the
 * limit; 7 MB at 10k services × 5 endpoints).
 */
const REMEMBER_AT_MOST = 1 << 18;
const remembered = new Map<string, string>();
/** KUBE-SEP names by service port identity, then endpoint: looked up without building the identity string per endpoint. */
const sepNames = new Map<string, Map<string, string>>();
let sepNamesHeld = 0;

function hash16(identity: string): string {
  let name = remembered.get(identity);
  if (name === undefined) {
    name = digest16(identity);
    if (remembered.size >= REMEMBER_AT_MOST) remembered.clear();
    remembered.set(identity, name);
  }
  return name;
}

/** 16 base32 characters are exactly the first 10 bytes of the digest. */
function digest16(identity: string): string {
  return base32(sha256(identity), 10);
}

/**
 * crypto.hash (Node ≥ 20.12) hashes in one call: half the CPU of a Hash
 * object per name, and the first compile after a start names every chain.
 */
const sha256: (text: string) => Buffer =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'buffer')
    : (text) => crypto.createHash('sha256').update(text).digest();

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * RFC 4648 base32 (Go's base32.StdEncoding) of the first `length` bytes,
 * indexed rather than iterated: the first compile after a start runs this
 * for every chain before V8 has optimised it.
 */
function base32(bytes: Buffer, length: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (let i = 0; i < length; i++) {
    value = (value << 8) | (bytes[i] as number);
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET.charAt((value << (5 - bits)) & 31);
  return out;
}

export function portProtoHash(spn: string, protocol: Protocol): string {
  return hash16(spn + protocol.toLowerCase());
}

export const svcChain = (spn: string, p: Protocol): string => cat('KUBE-SVC-', portProtoHash(spn, p));
export const extChain = (spn: string, p: Protocol): string => cat('KUBE-EXT-', portProtoHash(spn, p));

/** `endpoint` is `ip:port` as kube-proxy's endpoint String(). */
export function sepChain(spn: string, p: Protocol, endpoint: string): string {
  return sepChainsOf(spn, p)(endpoint);
}

/** The KUBE-SEP namer of one service port (a compile names all its endpoints with it). */
export function sepChainsOf(spn: string, p: Protocol): (endpoint: string) => string {
  const identity = spn + p.toLowerCase();
  let names = sepNames.get(identity);
  if (names === undefined) {
    names = new Map();
    sepNames.set(identity, names);
  }
  const held = names;
  return (endpoint) => {
    let name = held.get(endpoint);
    if (name === undefined) {
      name = cat('KUBE-SEP-', digest16(identity + endpoint));
      if (++sepNamesHeld > REMEMBER_AT_MOST) {
        sepNames.clear();
        sepNamesHeld = 1;
        sepNames.set(identity, held);
        held.clear();
      }
      held.set(endpoint, name);
    }
    return name;
  };
}

export function isServiceChainName(name: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}
