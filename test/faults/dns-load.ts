/**
 * The query generator of dns-churn.test.ts, run compiled inside the node
 * namespace (`ip netns exec NS node dist-dev/test/faults/dns-load.js PLAN OUT`):
 * sends the plan's questions from one UDP socket at a fixed rate (a query
 * late because of a slow tick goes out at once, so the count per second
 * holds), asks again over TCP when a reply comes back truncated, and writes
 * what came back for each to OUT.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import dnsPacket from 'dns-packet';

export type QueryType = 'A' | 'SRV' | 'PTR';

export interface Question {
  name: string;
  type: QueryType;
}

export interface LoadPlan {
  server: string;
  port: number;
  ratePerSecond: number;
  /** A reply later than this after its query is a timeout (the query is not re-sent). */
  timeoutMs: number;
  /** Distinct questions; `sequence` holds indexes into them, one per query (at most 65,536: the ID is the index). */
  questions: Question[];
  sequence: number[];
}

/** One query. Times are epoch milliseconds with sub-millisecond precision, comparable across processes. */
export interface QueryRecord {
  question: number;
  sentAt: number;
  /** Odd IDs carry EDNS0 (1,232-byte payload), even ones do not: both of keel's cache keys get load. */
  edns: boolean;
  /** The UDP reply had TC set, so the query was asked again over TCP, as a stub resolver does; the rest is the TCP reply. */
  retriedOverTcp?: boolean;
  receivedAt?: number;
  rcode?: string;
  /** The question the reply carried, `name/type`. */
  echoed?: string;
  /** Answer records' data as text: an address, a PTR target, or `priority weight port target` for SRV. */
  answers?: string[];
  ttls?: number[];
}

export interface LoadResult {
  records: QueryRecord[];
  /** Replies whose ID matched no query in flight, or that did not decode. */
  strays: number;
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export const now = (): number => performance.timeOrigin + performance.now();

function recordData(a: dnsPacket.Answer): string {
  if (a.type === 'OPT') return 'OPT';
  if (a.type === 'SRV') return `${a.data.priority ?? 0} ${a.data.weight ?? 0} ${a.data.port} ${a.data.target}`;
  return typeof a.data === 'string' ? a.data : JSON.stringify(a.data);
}

function encodeQuery(id: number, q: Question, edns: boolean): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: q.type, name: q.name, class: 'IN' }],
    ...(edns
      ? {
          additionals: [
            { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] },
          ],
        }
      : {}),
  });
}

/** One query over TCP, length-prefixed (RFC 1035 4.2.2); undefined on any failure or after `timeoutMs`. */
function askOverTcp(plan: LoadPlan, packet: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: plan.server, port: plan.port });
    let got = Buffer.alloc(0);
    const done = (reply: Buffer | undefined): void => {
      sock.destroy();
      resolve(reply);
    };
    sock.setTimeout(Math.max(1, timeoutMs), () => done(undefined));
    sock.on('error', () => done(undefined));
    sock.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) done(got.subarray(2, 2 + got.readUInt16BE(0)));
    });
    const len = Buffer.allocUnsafe(2);
    len.writeUInt16BE(packet.length);
    sock.write(Buffer.concat([len, packet]));
  });
}

export function runLoad(plan: LoadPlan): Promise<LoadResult> {
  if (plan.sequence.length > 65_536) throw new RangeError(`at most 65,536 queries per run, got ${plan.sequence.length}`);
  const records: QueryRecord[] = [];
  let strays = 0;
  let settled = 0;
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });

  const accept = (msg: Buffer, receivedAt: number, overTcp: boolean): void => {
    let reply: dnsPacket.DecodedPacket;
    try {
      reply = dnsPacket.decode(msg);
    } catch {
      strays++;
      return;
    }
    const id = reply.id ?? -1;
    const rec = records[id];
    if (!rec || rec.receivedAt !== undefined || (rec.retriedOverTcp === true) !== overTcp) {
      strays++;
      return;
    }
    if (reply.flag_tc && !overTcp) {
      rec.retriedOverTcp = true;
      void askOverTcp(plan, encodeQuery(id, plan.questions[rec.question] as Question, rec.edns), rec.sentAt + plan.timeoutMs - now()).then(
        (r) => {
          if (r) accept(r, now(), true);
          else settled++;
        },
      );
      return;
    }
    rec.receivedAt = receivedAt;
    rec.rcode = RCODES[(reply.flags ?? 0) & 15] ?? `RCODE${(reply.flags ?? 0) & 15}`;
    const q = reply.questions?.[0];
    rec.echoed = q ? `${q.name.toLowerCase()}/${q.type}` : '';
    const answers = reply.answers ?? [];
    rec.answers = answers.map(recordData);
    rec.ttls = answers.map((a) => (a.type === 'OPT' ? -1 : (a.ttl ?? -1)));
    settled++;
  };
  socket.on('message', (msg) => accept(msg, now(), false));

  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    const start = now();
    let next = 0;
    const tick = (): void => {
      const due = Math.min(plan.sequence.length, Math.floor(((now() - start) * plan.ratePerSecond) / 1000) + 1);
      for (; next < due; next++) {
        const question = plan.sequence[next] as number;
        const edns = next % 2 === 1;
        const packet = encodeQuery(next, plan.questions[question] as Question, edns);
        records.push({ question, sentAt: now(), edns });
        socket.send(packet, plan.port, plan.server);
      }
      if (next < plan.sequence.length) {
        setTimeout(tick, 1);
        return;
      }
      // TCP retries give up by themselves at their query's deadline; the slack lets them report.
      const deadline = now() + plan.timeoutMs + 100;
      const drain = (): void => {
        if (settled === records.length || now() >= deadline) {
          socket.close();
          resolve({ records, strays });
        } else setTimeout(drain, 10);
      };
      drain();
    };
    tick();
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [planFile, outFile] = process.argv.slice(2);
  if (!planFile || !outFile) throw new Error('usage: dns-load.js PLAN.json OUT.json');
  const result = await runLoad(JSON.parse(readFileSync(planFile, 'utf8')) as LoadPlan);
  writeFileSync(outFile, JSON.stringify(result));
}
