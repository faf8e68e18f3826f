/**
 * nf_tables' change notifications in a network namespace, read from a
 * netlink socket subscribed to NFNLGRP_NFTABLES: what `nft monitor`
 * prints, without nft. `nft monitor` first reads the whole ruleset into
 * its cache and resolves every event against it, so beside a 10k-service
 * nftables table it reported nothing for minutes; this reader keeps no
 * cache and only reads each message's table and object name, so its cost
 * per event does not depend on the table's size. The kernel sends the
 * notifications of a transaction while it commits it, before the ACKs.
 */
import { RawNetlinkSocket } from 'netlink';
import { attrs } from '../src/kernel/netlink/netlink-attrs.js';
import { inNetns } from '../src/kernel/netns/in-netns.js';
import { netlinkMessages, NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES } from '../src/kernel/nftables/nf-tables-batch.js';

/** linux/netfilter/nfnetlink.h and nf_tables.h. */
const NFNLGRP_NFTABLES = 7;
const KINDS: Record<number, NfTablesEvent['kind']> = { 3: 'chain', 6: 'rule', 12: 'element' };
/** NFTA_{CHAIN,RULE,SET_ELEM_LIST}_TABLE is 1 in each; the object's name: NFTA_CHAIN_NAME 3, NFTA_RULE_CHAIN 2, NFTA_SET_ELEM_LIST_SET 2. */
const NAME_ATTR = { chain: 3, rule: 2, element: 2 } as const;
const NFPROTO_IPV4 = 2;

/** A new chain, rule or set element: its table (IPv4 only), its chain or set, and the message's attributes (keys, data, expressions). */
export interface NfTablesEvent {
  readonly kind: 'chain' | 'rule' | 'element';
  readonly table: string;
  readonly name: string;
  readonly attributes: Buffer;
}

const text = (b: Buffer | undefined): string => (b ? b.toString().replace(/\0+$/, '') : '');

export class NfTablesEvents {
  private readonly sock: RawNetlinkSocket;

  /** `onError`: the socket overflowed (ENOBUFS) or failed, so events may have been lost. */
  constructor(netns: string, onEvent: (e: NfTablesEvent) => void, onError: (err: Error) => void) {
    this.sock = inNetns(netns, () => new RawNetlinkSocket(NETLINK_NETFILTER));
    // A full sync at 10k sends ~100k notifications; the bench subscribes after it, but a margin costs nothing.
    this.sock.setRecvBufferSize(4 << 20);
    this.sock.addMembership(NFNLGRP_NFTABLES);
    this.sock.on('error', onError);
    this.sock.on('message', (buf: Buffer) => {
      for (const m of netlinkMessages(buf)) {
        const kind = m.type >> 8 === NFNL_SUBSYS_NFTABLES ? KINDS[m.type & 0xff] : undefined;
        if (kind === undefined || m.family !== NFPROTO_IPV4) continue;
        const a = attrs(m.attributes);
        onEvent({ kind, table: text(a.get(1)), name: text(a.get(NAME_ATTR[kind])), attributes: m.attributes });
      }
    });
  }

  close(): void {
    this.sock.close();
  }
}
