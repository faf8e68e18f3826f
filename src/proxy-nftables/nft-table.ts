import type { ServicePortInfo } from '../proxy-iptables/compile.js';
import type { NftFamily } from './nft-names.js';

/** A chain of keel's table; base chains carry their hook. Rules are in the form `nft list` prints them back. */
export interface NftChain {
  readonly name: string;
  readonly rules: readonly string[];
  readonly base?: { readonly type: 'filter' | 'nat'; readonly hook: string; readonly priority: number };
  readonly comment?: string;
}

/** A named set or map; elements are `key [comment "…"] [: value]` in the form `nft list` prints them. */
export interface NftSet {
  readonly name: string;
  /** `ipv4_addr`, or a map's `ipv4_addr . inet_proto . inet_service : verdict`. */
  readonly type: string;
  /** `type` names datatypes; `typeof` gives expressions instead (a numgen slot has no datatype name). */
  readonly typeKeyword?: 'type' | 'typeof';
  readonly map: boolean;
  readonly flags?: readonly string[];
  readonly timeoutSeconds?: number;
  readonly comment?: string;
  readonly elements: readonly string[];
}

/** One element a service puts into one of the shared sets and maps, or into one of its own endpoint maps. */
export interface NftElement {
  readonly set: string;
  /** The element as rendered: key, comment, value. */
  readonly text: string;
}

/** One service's share of the table: its own chains, endpoint maps and affinity sets, and the elements it puts in any set. */
export interface NftServiceRules {
  readonly key: string;
  readonly chains: readonly NftChain[];
  readonly sets: readonly NftSet[];
  readonly elements: readonly NftElement[];
  readonly ports: readonly ServicePortInfo[];
}

export interface NftTable {
  readonly family: NftFamily;
  readonly name: string;
  /** Base chains, keel's fixed chains, then service chains in name order. */
  readonly chains: readonly NftChain[];
  /** Shared sets and maps, then affinity sets in name order. */
  readonly sets: readonly NftSet[];
  readonly ports: readonly ServicePortInfo[];
}
