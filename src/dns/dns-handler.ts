import dnsPacket from 'dns-packet';
import { emptySnapshot, type ClusterSnapshot } from '../api/cluster-state.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { createLogger, type Logger } from '../observe/log.js';
import { AnswerCache } from './answer-cache.js';
import { answerQuestion, type AnswerSet, type Resolution } from './answer.js';
import {
  LATENCY_SAMPLE,
  countRequest,
  dnsCacheEntries,
  dnsDropped,
  dnsRecordNames,
  forwardDuration,
  localDuration,
} from './dns-metrics.js';
import type { Forwarding } from './forward.js';
import type { DnsConfig, RecordIndex, Rr } from './records.js';
import { assemble, assembleInto, buildTemplate, udpLimit, type ResponseRcode, type ResponseTemplate } from './response.js';
import { parseQuery, type ParsedQuery } from './wire-query.js';
import { buildRecordIndex, SOA_SERIAL, ZoneRecords } from './zone-records.js';

export interface Client {
  address: string;
  transport: 'udp' | 'tcp';
}

export interface DnsHandlerOptions {
  config: DnsConfig;
  forwarder?: Forwarding;
  /** May this client have foreign names resolved? */
  recursionAllowed: (address: string) => boolean;
  logger?: Logger;
  /** False in a worker thread: the agent thread's own handler logs and counts the objects it rejects. */
  reportRejections?: boolean;
  /** Cached responses kept at most; the cache empties when it overflows (default 50,000). */
  cacheSize?: number;
}

const TYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  255: 'ANY',
};
const ZONE_TRANSFER = new Set([251, 252]);
const CLASS_IN = 1;
const CLASS_ANY = 255;

/** A CNAME to a foreign name: the CNAME alone (`local`), or completed by an upstream lookup of `target`. */
interface Chase {
  kind: 'chase';
  target: string;
  sections: AnswerSet;
  local: ResponseTemplate;
}

type Decision = ResponseTemplate | Chase | 'forward';

/**
 * Turns one query packet into one response packet (or none), from the
 * record index kept up to date delivery by delivery. Answers are encoded
 * once per (name, type, EDNS), then only stamped with the ID and the
 * client's question; a delivery drops only the answers that read a name it
 * changed.
 */
export class DnsHandler {
  private index: ZoneRecords | undefined;
  /** Zones only, to know what to SERVFAIL before the first snapshot. */
  private readonly bareIndex: RecordIndex;
  private readonly cache: AnswerCache<Decision>;
  private readonly log: Logger;
  private handled = 0;
  /** A local answer between finish() and its assembly (handling is synchronous up to there, so one is enough). */
  private readonly local: { questionEnd: number | undefined; tpl: ResponseTemplate; maxSize: number; recursionAvailable: boolean } = {
    questionEnd: undefined,
    tpl: buildTemplate('SERVFAIL', '', undefined, { authoritative: false, edns: false }),
    maxSize: 512,
    recursionAvailable: false,
  };

  constructor(private readonly options: DnsHandlerOptions) {
    this.log = options.logger ?? createLogger('dns');
    this.cache = new AnswerCache(options.cacheSize ?? 50_000);
    this.bareIndex = buildRecordIndex(emptySnapshot(), options.config);
  }

  hasSynced(): boolean {
    return this.index !== undefined;
  }

  /** A ClusterWatch consumer: rebuilds the records of the services and pods that changed, drops the answers that read them. */
  update(snap: ClusterSnapshot, changed: ChangedKeys): void {
    this.index ??= new ZoneRecords(this.options.config, this.options.reportRejections);
    const touched = this.index.update(snap, changed);
    this.cache.invalidate(touched);
    dnsCacheEntries.set(this.cache.size);
    dnsRecordNames.set(this.index.names.size);
    this.log.debug('record index updated', { revision: snap.revision, names: this.index.names.size, changed: touched.size });
  }

  /** Takes a whole snapshot (compared with what the index holds, so only differences reach the cache). */
  setSnapshot(snap: ClusterSnapshot): void {
    this.update(snap, { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
  }

  /** A Buffer for local answers; a Promise only when the question goes upstream. */
  handle(packet: Buffer, client: Client): Buffer | Promise<Buffer | undefined> | undefined {
    const r = this.respond(packet, client);
    return r === true ? this.assembleLocal(packet) : r === false ? undefined : r;
  }

  /**
   * handle() for a batch: a local answer is written into `out` at `at`,
   * which has room for EDNS_UDP_SIZE bytes (a UDP client never gets more);
   * returns the bytes written (0: no answer), or a Promise when the question goes upstream.
   */
  handleInto(packet: Buffer, client: Client, out: Buffer, at: number): number | Promise<Buffer | undefined> {
    const r = this.respond(packet, client);
    if (r !== true) return r === false ? 0 : r;
    const l = this.local;
    return assembleInto(out, at, packet, l.questionEnd, l.tpl, l.recursionAvailable, l.maxSize);
  }

  /** true: a local answer is described in `this.local`; false: no answer at all. */
  private respond(packet: Buffer, client: Client): boolean | Promise<Buffer | undefined> {
    const start = ++this.handled % LATENCY_SAMPLE === 0 ? process.hrtime.bigint() : 0n;
    const parsed = parseQuery(packet);
    if (parsed.kind === 'drop') {
      dnsDropped.inc();
      return false;
    }
    if (parsed.kind === 'error') {
      return this.finish(
        parsed.questionEnd,
        buildTemplate(parsed.rcode, '', undefined, { authoritative: false, edns: false }),
        client,
        'other',
        undefined,
        start,
      );
    }
    const q = parsed.query;
    const typeName = TYPE_NAMES[q.qtype] ?? `TYPE${q.qtype}`;
    const decision = this.decide(q, typeName);
    const fwd = this.options.forwarder;
    const recursion = fwd !== undefined && this.options.recursionAllowed(client.address);
    if (decision !== 'forward') {
      if (!isChase(decision)) return this.finish(q.questionEnd, decision, client, typeName, q, start);
      if (!recursion) return this.finish(q.questionEnd, decision.local, client, typeName, q, start);
      const kept = ownCopy(packet);
      return this.chase(decision, q, typeName, client.transport).then((tpl) => {
        this.finish(q.questionEnd, tpl, client, typeName, q, start);
        return this.assembleLocal(kept);
      });
    }
    if (!fwd || !recursion) return this.finish(q.questionEnd, this.simple('REFUSED', q), client, typeName, q, start);
    const fstart = start || process.hrtime.bigint();
    const kept = ownCopy(packet);
    return fwd.forward(kept, q.questionEnd, client.transport === 'tcp').then((reply) => {
      if (!reply) {
        this.finish(q.questionEnd, this.simple('SERVFAIL', q), client, typeName, q, start);
        return this.assembleLocal(kept);
      }
      countRequest(metricType(typeName), rcodeName(reply[3]! & 15), client.transport);
      forwardDuration.observe(Number(process.hrtime.bigint() - fstart) / 1e9);
      return reply;
    });
  }

  private decide(q: ParsedQuery, typeName: string): Decision {
    if (q.edns && q.edns.version > 0) return this.simple('BADVERS', q);
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return this.simple('REFUSED', q);
    if (ZONE_TRANSFER.has(q.qtype)) return this.simple('REFUSED', q);
    const index = this.index;
    if (!index) {
      // Before the first list keel knows nothing: SERVFAIL (retry), never a false NXDOMAIN.
      return answerQuestion(this.bareIndex, { name: q.name, type: typeName }).kind === 'forward' ? 'forward' : this.simple('SERVFAIL', q);
    }
    const variant = q.qtype * 2 + (q.edns ? 1 : 0);
    let decision = this.cache.get(variant, q.name);
    if (decision === undefined) {
      const res = answerQuestion(index, { name: q.name, type: typeName });
      const edns = q.edns !== undefined;
      if (res.kind === 'forward') decision = 'forward';
      else {
        const local = buildTemplate(res.rcode, q.name, res, { authoritative: true, edns });
        decision = res.foreignTarget === undefined ? local : { kind: 'chase', target: res.foreignTarget, sections: res, local };
      }
      this.cache.set(variant, q.name, decision, namesRead(q.name, res));
      dnsCacheEntries.set(this.cache.size);
    }
    return decision;
  }

  /**
   * Asks upstream for the CNAME's target, as CoreDNS does, so stub resolvers
   * (glibc) get addresses. The question goes out as the client's did: over
   * TCP for a TCP client, else over UDP with EDNS0 at the size keel can hand
   * back; a truncated UDP reply is asked again over TCP. An answer keel could
   * not get whole goes back as the CNAME alone with TC set, never as complete.
   */
  private async chase(c: Chase, q: ParsedQuery, typeName: string, transport: Client['transport']): Promise<ResponseTemplate> {
    const fwd = this.options.forwarder;
    const packet: dnsPacket.Packet = {
      type: 'query',
      id: 0,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: c.target, type: typeName as 'A', class: 'IN' }],
    };
    if (q.edns)
      packet.additionals = [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: udpLimit(q.edns.udpSize),
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ];
    const ask = dnsPacket.encode(packet);
    const parsed = parseQuery(ask);
    if (!fwd || parsed.kind !== 'query') return c.local;
    const end = parsed.query.questionEnd;
    let reply = await fwd.forward(ask, end, transport === 'tcp');
    if (reply && isTruncated(reply)) reply = (await fwd.forward(ask, end, true)) ?? reply;
    if (!reply) return c.local;
    if (isTruncated(reply)) return { ...c.local, flags: c.local.flags | TC };
    try {
      const upstream = dnsPacket.decode(reply) as { rcode?: string; answers?: object[] };
      const rcode = upstream.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : 'NOERROR';
      const answers = [...c.sections.answers, ...((upstream.answers ?? []) as Rr[])];
      return buildTemplate(rcode, q.name, { ...c.sections, answers }, { authoritative: false, edns: q.edns !== undefined });
    } catch {
      return c.local;
    }
  }

  private simple(rcode: ResponseRcode, q: ParsedQuery): ResponseTemplate {
    return buildTemplate(rcode, q.name, undefined, { authoritative: false, edns: q.edns !== undefined });
  }

  /** Counts the answer and describes it in `this.local`, for the caller to assemble before handling anything else. */
  private finish(
    questionEnd: number | undefined,
    tpl: ResponseTemplate,
    client: Client,
    typeName: string,
    q: ParsedQuery | undefined,
    start: bigint,
  ): true {
    const l = this.local;
    l.questionEnd = questionEnd;
    l.tpl = tpl;
    l.maxSize = client.transport === 'tcp' ? 65_535 : udpLimit(q?.edns?.udpSize);
    l.recursionAvailable = this.options.forwarder !== undefined && this.options.recursionAllowed(client.address);
    countRequest(metricType(typeName), tpl.rcode, client.transport);
    if (start) localDuration.observe(Number(process.hrtime.bigint() - start) / 1e9);
    return true;
  }

  private assembleLocal(packet: Buffer): Buffer {
    const l = this.local;
    return assemble(packet, l.questionEnd, l.tpl, l);
  }
}

const TC = 0x0200;

/**
 * The query as an answer that waits for upstream keeps it: a batch's
 * receive slot is reused by the next batch before then, and a worker posts
 * only these bytes to the agent (a view would post the whole 128 KB slot
 * buffer). Unpooled for the same reason.
 */
function ownCopy(packet: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(packet.length);
  packet.copy(own);
  return own;
}

function isTruncated(reply: Buffer): boolean {
  return reply.length >= 4 && (reply.readUInt16BE(2) & TC) !== 0;
}

/**
 * The names an answer was read from: the question's name and its parent
 * (an insecure pod name answers while its namespace exists), every CNAME,
 * SRV and NS target the answer followed or glued, and the SOA serial when
 * the answer carries an SOA.
 */
function namesRead(name: string, res: Resolution): string[] {
  const out = [name, name.slice(name.indexOf('.') + 1)];
  if (res.kind === 'forward') return out;
  for (const rr of [...res.answers, ...res.authorities]) {
    if (rr.type === 'CNAME' || rr.type === 'NS') out.push(rr.data);
    else if (rr.type === 'SRV') out.push(rr.data.target);
    else if (rr.type === 'SOA') out.push(SOA_SERIAL);
  }
  return out;
}

function isChase(d: ResponseTemplate | Chase): d is Chase {
  return 'target' in d;
}

/** Query types as metric labels: the common ones by name, the rest as "other" (bounded cardinality). */
function metricType(typeName: string): string {
  return typeName.startsWith('TYPE') ? 'other' : typeName;
}

function rcodeName(code: number): string {
  return ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][code] ?? `RCODE${code}`;
}
