import { endianness } from 'node:os';
import { RawNetlinkSocket } from 'netlink';
import { KeelError } from '../../api/errors.js';
import { parseIp } from '../../api/ip.js';
import { NF_FAMILY, type NfFamily } from '../address-family.js';
import { attr, attrEntries, attrs, cstr as str, nested } from '../netlink/netlink-attrs.js';
import { inNetns } from '../netns/in-netns.js';
import { ruleExpressions } from './nf-tables-rule.js';

/**
 * nf_tables messages written directly, without nft: nft fetches a cache of
 * the whole ruleset before each command (at 10k services most of a
 * transaction's time); a batch written directly costs what the kernel's
 * commit costs. Covers what an endpoint change needs (elements of keel's
 * sets and maps, added and deleted, and the endpoint-pick rules replaced
 * in place when the count crosses a power of two, in one transaction)
 * and what the periodic check reads (one chain's rules). Constants from
 * linux/netfilter/nf_tables.h, nfnetlink.h and libnftnl's udata.h.
 */
export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWRULE = 6;
const NFT_MSG_GETRULE = 7;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NLM_F_REQUEST = 0x1;
const NLM_F_MULTI = 0x2;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_DUMP = 0x300;
const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_SET_ELEM_USERDATA = 6;
const NFTNL_UDATA_SET_ELEM_COMMENT = 0;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_HANDLE = 3;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_LOOKUP_SET = 1;
const ENOENT = 2;
const VERDICTS = { drop: 0, accept: 1, jump: -3, goto: -4 } as const;
const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/**
 * An element's key or value in the kernel's layout: each field of a
 * concatenation in network order, padded to 4 bytes (`10.96.0.10 . tcp . 80`
 * is 12 bytes; an IPv6 address is 16, `fd00::a . tcp . 80` 24). A bare
 * number is a numgen slot: a host-order 32-bit integer (keel's only key of
 * one number); in a concatenation a number is a port.
 */
export function elementKey(text: string): Buffer {
  const fields = text.split(' . ').map((f) => f.trim());
  if (fields.length === 1 && /^\d+$/.test(fields[0] ?? '')) {
    const b = Buffer.alloc(4);
    if (endianness() === 'LE') b.writeUInt32LE(Number(fields[0]), 0);
    else b.writeUInt32BE(Number(fields[0]), 0);
    return b;
  }
  return Buffer.concat(
    fields.map((f) => {
      const ip = parseIp(f);
      if (ip?.family === 6) {
        const b = Buffer.alloc(16);
        b.writeBigUInt64BE(ip.value >> 64n, 0);
        b.writeBigUInt64BE(ip.value & 0xffff_ffff_ffff_ffffn, 8);
        return b;
      }
      const b = Buffer.alloc(4);
      if (ip) b.writeUInt32BE(Number(ip.value), 0);
      else if (PROTOCOLS[f] !== undefined) b[0] = PROTOCOLS[f] ?? 0;
      else if (/^\d+$/.test(f)) b.writeUInt16BE(Number(f), 0);
      else throw new KeelError('KEEL_NFT_FAILED', `cannot encode element field ${JSON.stringify(f)}`, { subject: text });
      return b;
    }),
  );
}

interface ParsedElement {
  key: Buffer;
  comment?: string;
  verdict?: { code: number; chain?: string };
  value?: Buffer;
}

/** An element as keel renders it (`key [comment "…"] [: verdict | : value]`). */
function parseElement(text: string): ParsedElement {
  const [left = '', right] = text.split(' : ');
  const m = / comment "([^"]*)"$/.exec(left);
  const key = elementKey(m ? left.slice(0, m.index) : left);
  const out: ParsedElement = m?.[1] === undefined ? { key } : { key, comment: m[1] };
  if (right === undefined) return out;
  const [word = '', chain] = right.trim().split(/\s+/);
  const code = VERDICTS[word as keyof typeof VERDICTS];
  if (code === undefined) return { ...out, value: elementKey(right) };
  return { ...out, verdict: chain === undefined ? { code } : { code, chain } };
}

function elementAttr(text: string, withData: boolean): Buffer {
  const { key, comment, verdict, value } = parseElement(text);
  const parts = [nested(NFTA_SET_ELEM_KEY, attr(NFTA_DATA_VALUE, key))];
  if (withData && verdict) {
    const code = Buffer.alloc(4);
    code.writeInt32BE(verdict.code, 0);
    const v = [attr(NFTA_VERDICT_CODE, code), ...(verdict.chain ? [attr(NFTA_VERDICT_CHAIN, str(verdict.chain))] : [])];
    parts.push(nested(NFTA_SET_ELEM_DATA, nested(NFTA_DATA_VERDICT, ...v)));
  }
  if (withData && value) parts.push(nested(NFTA_SET_ELEM_DATA, attr(NFTA_DATA_VALUE, value)));
  if (withData && comment !== undefined) {
    // libnftnl's TLV: type, length, the comment with its NUL (what nft lists back as `comment "…"`).
    const c = str(comment);
    parts.push(attr(NFTA_SET_ELEM_USERDATA, Buffer.concat([Buffer.from([NFTNL_UDATA_SET_ELEM_COMMENT, c.length]), c])));
  }
  return nested(NFTA_LIST_ELEM, ...parts);
}

/** What the nftables sync loop sends without nft: element and pick-rule transactions, and one chain read for the periodic check. */
export interface NfTablesDirect {
  commit(family: NfFamily, table: string, changes: readonly ElementChange[], rules?: readonly RuleReplacement[]): Promise<void>;
  chainRules(family: NfFamily, table: string, chain: string): Promise<RuleSummary[] | undefined>;
}

/**
 * One rule replaced in place (an endpoint pick whose modulus changed):
 * its position in its chain and the chain's length, both as keel last
 * wrote them; the chain read back must still have that length.
 */
export interface RuleReplacement {
  readonly chain: string;
  readonly position: number;
  readonly length: number;
  readonly rule: string;
}

export interface ElementChange {
  readonly op: 'add' | 'delete';
  readonly set: string;
  readonly elements: readonly string[];
}

function message(type: number, flags: number, seq: number, family: number, payload: Buffer, resId = 0): Buffer {
  const len = 16 + 4 + payload.length;
  const out = Buffer.alloc(len);
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt8(family, 16);
  out.writeUInt8(0, 17);
  out.writeUInt16BE(resId, 18);
  payload.copy(out, 20);
  return out;
}

interface BatchMessage {
  readonly type: number;
  readonly flags: number;
  readonly payload: Buffer;
}

/** NEW/DELSETELEM for one element change. */
function elementMessage(table: string, c: ElementChange): BatchMessage {
  const add = c.op === 'add';
  return {
    type: add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
    flags: add ? NLM_F_CREATE : 0,
    payload: Buffer.concat([
      attr(NFTA_SET_ELEM_LIST_TABLE, str(table)),
      attr(NFTA_SET_ELEM_LIST_SET, str(c.set)),
      nested(NFTA_SET_ELEM_LIST_ELEMENTS, ...c.elements.map((e) => elementAttr(e, add))),
    ]),
  };
}

/** NEWRULE with NLM_F_REPLACE: the rule with `handle` becomes `expressions`, at the same place in its chain. */
function replaceRuleMessage(table: string, chain: string, handle: bigint, expressions: Buffer): BatchMessage {
  const h = Buffer.alloc(8);
  h.writeBigUInt64BE(handle, 0);
  return {
    type: NFT_MSG_NEWRULE,
    flags: NLM_F_REPLACE,
    payload: Buffer.concat([
      attr(NFTA_RULE_TABLE, str(table)),
      attr(NFTA_RULE_CHAIN, str(chain)),
      attr(NFTA_RULE_HANDLE, h),
      nested(NFTA_RULE_EXPRESSIONS, expressions),
    ]),
  };
}

/** One transaction: BATCH_BEGIN, the messages in the given order, each asking for its ACK, BATCH_END. */
function encodeBatch(family: NfFamily, msgs: readonly BatchMessage[], firstSeq: number): { bytes: Buffer; seqs: number[] } {
  let seq = firstSeq;
  const seqs: number[] = [];
  const out = [message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, Buffer.alloc(0), NFNL_SUBSYS_NFTABLES)];
  for (const m of msgs) {
    seqs.push(seq);
    out.push(message((NFNL_SUBSYS_NFTABLES << 8) | m.type, NLM_F_REQUEST | NLM_F_ACK | m.flags, seq++, NF_FAMILY[family], m.payload));
  }
  out.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, 0, Buffer.alloc(0), NFNL_SUBSYS_NFTABLES));
  return { bytes: Buffer.concat(out), seqs };
}

/** One rule as the check and a replacement need it: its handle, the names of its expressions and the sets its lookups read. */
export interface RuleSummary {
  readonly handle: bigint;
  readonly expressions: readonly string[];
  readonly lookups: readonly string[];
}

function summarizeRule(payload: Buffer): RuleSummary {
  const expressions: string[] = [];
  const lookups: string[] = [];
  const cstr = (b: Buffer | undefined): string => (b ? b.toString().replace(/\0+$/, '') : '');
  const rule = attrs(payload);
  const h = rule.get(NFTA_RULE_HANDLE);
  for (const e of attrEntries(rule.get(NFTA_RULE_EXPRESSIONS) ?? Buffer.alloc(0)).map((a) => a.payload)) {
    const a = attrs(e);
    const name = cstr(a.get(NFTA_EXPR_NAME));
    expressions.push(name);
    if (name === 'lookup') lookups.push(cstr(attrs(a.get(NFTA_EXPR_DATA) ?? Buffer.alloc(0)).get(NFTA_LOOKUP_SET)));
  }
  return { handle: h?.length === 8 ? h.readBigUInt64BE(0) : -1n, expressions, lookups };
}

/** One netlink message: its header's fields, its body, and (nfnetlink) its family and attributes after the 4-byte nfgenmsg. */
export interface NetlinkMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly body: Buffer;
  readonly family: number;
  readonly attributes: Buffer;
}

/** Splits a datagram into its messages. */
export function netlinkMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  for (let off = 0; off + 16 <= buf.length;) {
    const len = buf.readUInt32LE(off);
    if (len < 16) break;
    const body = buf.subarray(off + 16, off + len);
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      body,
      family: body[0] ?? 0,
      attributes: body.subarray(4),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

interface Pending {
  readonly resolve: (msgs: Buffer[] | number) => void;
  readonly msgs: Buffer[];
}

/**
 * A NETLINK_NETFILTER socket, in the calling process's network namespace
 * or in a named one (the socket stays there), that commits element
 * batches, waiting for every message's ACK, and reads one chain's rules.
 */
export class NfTablesSocket implements NfTablesDirect {
  private readonly sock: RawNetlinkSocket;
  private seq = 1;
  private readonly waiting = new Map<number, Pending>();

  constructor(opts: { netns?: string } = {}) {
    const open = (): RawNetlinkSocket => new RawNetlinkSocket(NETLINK_NETFILTER);
    this.sock = opts.netns === undefined ? open() : inNetns(opts.netns, open);
    // An idle socket does not keep the process alive; a request in flight does (its timeout).
    this.sock.unref();
    this.sock.on('message', (buf: Buffer) => {
      this.receive(buf);
    });
  }

  /** An ERROR ends its request (errno, 0 for an ACK), DONE ends a dump. */
  private receive(buf: Buffer): void {
    for (const m of netlinkMessages(buf)) {
      const p = this.waiting.get(m.seq);
      if (!p) continue;
      if (m.type === NLMSG_ERROR || m.type === NLMSG_DONE) {
        this.waiting.delete(m.seq);
        p.resolve(m.type === NLMSG_ERROR ? m.body.readInt32LE(0) : p.msgs);
      } else {
        p.msgs.push(m.attributes);
        if (!(m.flags & NLM_F_MULTI)) {
          this.waiting.delete(m.seq);
          p.resolve(p.msgs);
        }
      }
    }
  }

  /** Waits for the answer to `seq`: an errno (0 = ACK) or a dump's messages; a kernel that never answers fails after 5 s. */
  private answer(seq: number): Promise<Buffer[] | number> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        resolve(-110);
      }, 5_000);
      this.waiting.set(seq, {
        msgs: [],
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  private send(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sock.send(bytes, {}, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * One transaction: all changes are committed or none. A rule to replace
   * is found by position in its chain read back first (one GETRULE per
   * chain); a chain whose length is not the one keel wrote is refused.
   */
  async commit(family: NfFamily, table: string, changes: readonly ElementChange[], rules: readonly RuleReplacement[] = []): Promise<void> {
    const subject = `table ${family} ${table}`;
    const msgs = changes.filter((c) => c.elements.length).map((c) => elementMessage(table, c));
    const handles = new Map<string, RuleSummary[] | undefined>();
    for (const r of rules) {
      // One dump at a time: a netlink socket refuses a second one while the first runs (EBUSY).
      if (!handles.has(r.chain)) handles.set(r.chain, await this.chainRules(family, table, r.chain));
      const found = handles.get(r.chain);
      const expressions = ruleExpressions(r.rule);
      // The rule found there must have the replacement's shape (a pick); anything else means someone changed the chain.
      const old = found?.length === r.length ? found[r.position] : undefined;
      const shape = expressions && summarizeRule(nested(NFTA_RULE_EXPRESSIONS, expressions)).expressions.join();
      const handle = old?.expressions.join() === shape ? old?.handle : undefined;
      if (!expressions || handle === undefined)
        throw new KeelError('KEEL_NFT_FAILED', `cannot replace rule ${r.position} of chain ${r.chain} by netlink`, { subject });
      msgs.push(replaceRuleMessage(table, r.chain, handle, expressions));
    }
    if (!msgs.length) return;
    const { bytes, seqs } = encodeBatch(family, msgs, this.seq);
    this.seq += seqs.length + 2;
    const acks = seqs.map((s) => this.answer(s));
    await this.send(bytes);
    const failed = (await Promise.all(acks)).find((e) => e !== 0);
    if (failed !== undefined) throw new KeelError('KEEL_NFT_FAILED', `nf_tables batch refused (errno ${-Number(failed)})`, { subject });
  }

  /** NFT_MSG_GETRULE for one chain: its rules in order, undefined when the chain (or table) does not exist. */
  async chainRules(family: NfFamily, table: string, chain: string): Promise<RuleSummary[] | undefined> {
    const seq = this.seq++;
    const payload = Buffer.concat([attr(NFTA_RULE_TABLE, str(table)), attr(NFTA_RULE_CHAIN, str(chain))]);
    const type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE;
    const reply = this.answer(seq);
    await this.send(message(type, NLM_F_REQUEST | NLM_F_DUMP, seq, NF_FAMILY[family], payload));
    const r = await reply;
    if (r === -ENOENT) return undefined;
    if (typeof r === 'number')
      throw new KeelError('KEEL_NFT_FAILED', `reading chain ${chain} failed (errno ${-r})`, { subject: `table ${family} ${table}` });
    return r.map(summarizeRule);
  }

  close(): void {
    this.sock.close();
  }
}
