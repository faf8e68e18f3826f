import { createNetlink, type NetlinkSocket } from 'netlink';
import { KeelError } from '../../api/errors.js';

/**
 * nf_tables changes sent as one netlink batch, without nft: nft fetches a
 * cache of the whole ruleset before each command (at 10k services most of
 * a transaction's time), a batch written directly costs what the kernel's
 * commit costs. Covers what a map-element change needs: elements of
 * keel's sets and verdict maps, added and deleted in one transaction.
 * Constants from linux/netfilter/nf_tables.h and nfnetlink.h.
 */
const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 2;
const NLA_F_NESTED = 0x8000;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
const FAMILIES = { ip: 2, ip6: 10 } as const;
const VERDICTS = { drop: 0, accept: 1, jump: -3, goto: -4 } as const;
const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

const nested = (type: number, ...parts: Buffer[]): Buffer => attr(type | NLA_F_NESTED, Buffer.concat(parts));
const str = (text: string): Buffer => Buffer.from(`${text}\0`);

/**
 * An element's key in the kernel's layout: each field of a concatenation
 * in network order, padded to 4 bytes (`10.96.0.10 . tcp . 80` is 12 bytes).
 */
export function elementKey(text: string): Buffer {
  const fields = text.split(' . ').map((f) => f.trim());
  return Buffer.concat(
    fields.map((f) => {
      const b = Buffer.alloc(4);
      if (/^\d+\.\d+\.\d+\.\d+$/.test(f)) for (const [i, octet] of f.split('.').entries()) b[i] = Number(octet);
      else if (PROTOCOLS[f] !== undefined) b[0] = PROTOCOLS[f] ?? 0;
      else if (/^\d+$/.test(f)) b.writeUInt16BE(Number(f), 0);
      else throw new KeelError('KEEL_NFT_FAILED', `cannot encode element field ${JSON.stringify(f)}`, { subject: text });
      return b;
    }),
  );
}

/** An element as keel renders it (`key [comment "…"] [: verdict]`), split into key and verdict. */
function parseElement(text: string): { key: Buffer; verdict?: { code: number; chain?: string } } {
  const [left = '', right] = text.split(' : ');
  const key = elementKey(left.replace(/ comment "[^"]*"$/, ''));
  if (right === undefined) return { key };
  const [word = '', chain] = right.trim().split(/\s+/);
  const code = VERDICTS[word as keyof typeof VERDICTS];
  if (code === undefined) throw new KeelError('KEEL_NFT_FAILED', `cannot encode verdict ${JSON.stringify(right)}`, { subject: text });
  return { key, verdict: chain === undefined ? { code } : { code, chain } };
}

function elementAttr(text: string, withData: boolean): Buffer {
  const { key, verdict } = parseElement(text);
  const parts = [nested(NFTA_SET_ELEM_KEY, attr(NFTA_DATA_VALUE, key))];
  if (withData && verdict) {
    const code = Buffer.alloc(4);
    code.writeInt32BE(verdict.code, 0);
    const v = [attr(NFTA_VERDICT_CODE, code), ...(verdict.chain ? [attr(NFTA_VERDICT_CHAIN, str(verdict.chain))] : [])];
    parts.push(nested(NFTA_SET_ELEM_DATA, nested(NFTA_DATA_VERDICT, ...v)));
  }
  return nested(NFTA_LIST_ELEM, ...parts);
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

/** One transaction: BATCH_BEGIN, one NEW/DELSETELEM per change, BATCH_END. */
function encodeElementBatch(
  family: 'ip' | 'ip6',
  table: string,
  changes: readonly ElementChange[],
  firstSeq: number,
): { bytes: Buffer; seqs: number[] } {
  const fam = FAMILIES[family];
  let seq = firstSeq;
  const seqs: number[] = [];
  const msgs = [message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, Buffer.alloc(0), NFNL_SUBSYS_NFTABLES)];
  for (const c of changes) {
    if (!c.elements.length) continue;
    const add = c.op === 'add';
    const payload = Buffer.concat([
      attr(NFTA_SET_ELEM_LIST_TABLE, str(table)),
      attr(NFTA_SET_ELEM_LIST_SET, str(c.set)),
      nested(NFTA_SET_ELEM_LIST_ELEMENTS, ...c.elements.map((e) => elementAttr(e, add))),
    ]);
    const type = (NFNL_SUBSYS_NFTABLES << 8) | (add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    seqs.push(seq);
    msgs.push(message(type, NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE : 0), seq++, fam, payload));
  }
  msgs.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, 0, Buffer.alloc(0), NFNL_SUBSYS_NFTABLES));
  return { bytes: Buffer.concat(msgs), seqs };
}

/**
 * A NETLINK_NETFILTER socket in the calling process's network namespace
 * that commits element batches and waits for every message's ACK.
 */
export class NfTablesSocket {
  private readonly sock: NetlinkSocket;
  private seq = 1;
  private readonly waiting = new Map<number, (errno: number) => void>();

  constructor() {
    this.sock = createNetlink(NETLINK_NETFILTER);
    this.sock.on('message', (msgs) => {
      for (const m of msgs) {
        if (m.type !== NLMSG_ERROR) continue;
        const errno = m.data.readInt32LE(0);
        const cb = this.waiting.get(m.seq);
        this.waiting.delete(m.seq);
        cb?.(errno);
      }
    });
  }

  async commitElements(family: 'ip' | 'ip6', table: string, changes: readonly ElementChange[]): Promise<void> {
    const { bytes, seqs } = encodeElementBatch(family, table, changes, this.seq);
    this.seq += seqs.length + 2;
    if (!seqs.length) return;
    // A batch the kernel never answers (it always should) fails after 5 s instead of hanging the sync loop.
    const acks = seqs.map(
      (s) =>
        new Promise<number>((resolve) => {
          const timer = setTimeout(() => {
            this.waiting.delete(s);
            resolve(-110);
          }, 5_000);
          this.waiting.set(s, (errno) => {
            clearTimeout(timer);
            resolve(errno);
          });
        }),
    );
    await new Promise<void>((resolve, reject) => this.sock.socket.send(bytes, {}, (err) => (err ? reject(err) : resolve())));
    const errnos = await Promise.all(acks);
    const failed = errnos.find((e) => e !== 0);
    if (failed !== undefined)
      throw new KeelError('KEEL_NFT_FAILED', `nf_tables element batch refused (errno ${-failed})`, { subject: `table ${family} ${table}` });
  }

  close(): void {
    this.sock.close();
  }
}
