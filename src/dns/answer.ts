import { cidrContains, parseIp } from '../api/ip.js';
import { ipFromReverseName, isInZone } from './dns-names.js';
import type { NameNode, RecordIndex, Rr, RrType } from './records.js';

/** A question as the server hands it over: canonical name, type mnemonic ('A', 'SRV', 'ANY', or 'TYPE65'…). */
export interface Question {
  name: string;
  type: string;
}

export type Rcode = 'NOERROR' | 'NXDOMAIN';

export interface AnswerSet {
  rcode: Rcode;
  answers: Rr[];
  authorities: Rr[];
  additionals: Rr[];
  /** The CNAME chain left keel's data here: a resolver must finish it (ExternalName to a foreign name). */
  foreignTarget?: string;
}

/** Either keel answers from its records, or the question belongs to the rest of the world. */
export type Resolution = ({ kind: 'answer' } & AnswerSet) | { kind: 'forward' };

const MAX_CNAME_CHAIN = 8;

/**
 * Answers one question from the record index, the way CoreDNS's kubernetes
 * plugin does: NXDOMAIN (with the zone's SOA) for names that do not exist,
 * NODATA (NOERROR, no answers, SOA) for names that exist with other types.
 */
export function answerQuestion(index: RecordIndex, q: Question): Resolution {
  const zone = index.zones.find((z) => isInZone(q.name, z));
  const node = index.names.get(q.name);
  if (zone === undefined) {
    // Endpoint addresses outside the configured ranges still get their PTR.
    if (node && q.type === 'PTR' && node.has('PTR')) return { kind: 'answer', ...fromNode(index, node, q.type) };
    return { kind: 'forward' };
  }
  if (!node && index.config.podRecords !== 'verified' && index.config.podRecords !== 'disabled' && zone === index.clusterZone) {
    const made = insecurePodAddress(index, q.name);
    if (made)
      return {
        kind: 'answer',
        rcode: 'NOERROR',
        answers: q.type === made.type || q.type === 'ANY' ? [made] : [],
        authorities: q.type === made.type || q.type === 'ANY' ? [] : soaOf(index, zone),
        additionals: [],
      };
  }
  if (!node) {
    // A reverse zone is keel's only inside the configured ranges (10.in-addr.arpa is wider than 10.96.0.0/12).
    if (zone !== index.clusterZone && !inServedRange(index, q.name)) return { kind: 'forward' };
    return { kind: 'answer', rcode: 'NXDOMAIN', answers: [], authorities: soaOf(index, zone), additionals: [] };
  }
  const set = fromNode(index, node, q.type);
  if (set.answers.length === 0) set.authorities = soaOf(index, zone);
  return { kind: 'answer', ...set };
}

function fromNode(index: RecordIndex, start: NameNode, type: string): AnswerSet {
  const answers: Rr[] = [];
  let node: NameNode | undefined = start;
  let target: string | undefined;
  for (let hops = 0; node && hops <= MAX_CNAME_CHAIN; hops++) {
    const cname = node.get('CNAME');
    if (cname?.length && type !== 'CNAME' && type !== 'ANY') {
      answers.push(...cname);
      target = (cname[0] as Rr & { data: string }).data;
      node = index.names.get(target);
      continue;
    }
    answers.push(...recordsOf(node, type));
    break;
  }
  const set: AnswerSet = { rcode: 'NOERROR', answers, authorities: [], additionals: additionalsFor(index, answers) };
  if (!node && target !== undefined && !index.zones.some((z) => isInZone(target, z))) set.foreignTarget = target;
  return set;
}

function recordsOf(node: NameNode, type: string): readonly Rr[] {
  if (type === 'ANY') return [...node.values()].flat();
  return node.get(type as RrType) ?? [];
}

/**
 * SRV targets' A/AAAA records, as the spec asks for the additional section,
 * and the name server's addresses with an NS answer (CoreDNS backend_lookup.go NS: glue for ns.dns.<zone>).
 */
function additionalsFor(index: RecordIndex, answers: readonly Rr[]): Rr[] {
  const out = new Set<Rr>();
  for (const rr of answers) {
    const name = rr.type === 'SRV' ? rr.data.target : rr.type === 'NS' ? rr.data : undefined;
    if (name === undefined) continue;
    const target = index.names.get(name);
    for (const a of [...(target?.get('A') ?? []), ...(target?.get('AAAA') ?? [])]) out.add(a);
  }
  return [...out];
}

/**
 * CoreDNS findPods, insecure mode: `<a-b-c-d>.<ns>.pod.<zone>` is the address
 * its label spells (three dashes and no "--": IPv4, else IPv6 with dashes as
 * colons) whenever the namespace exists, pod or no pod.
 */
function insecurePodAddress(index: RecordIndex, name: string): Rr | undefined {
  const suffix = `.pod.${index.clusterZone}`;
  if (!name.endsWith(suffix)) return undefined;
  const labels = name.slice(0, -suffix.length).split('.');
  if (labels.length !== 2 || !index.namespaces.has(labels[1] as string)) return undefined;
  const label = labels[0] as string;
  const v4 = label.split('-').length === 4 && !label.includes('--');
  const ip = parseIp(v4 ? label.replace(/-/g, '.') : label.replace(/-/g, ':'));
  if (!ip) return undefined;
  return { name, type: ip.family === 4 ? 'A' : 'AAAA', ttl: index.config.ttl, data: ip.text };
}

function inServedRange(index: RecordIndex, name: string): boolean {
  const ip = ipFromReverseName(name);
  return ip !== undefined && [...index.config.serviceCidrs, ...index.config.podCidrs].some((c) => cidrContains(c, ip));
}

function soaOf(index: RecordIndex, zone: string): Rr[] {
  const soa = index.soa.get(zone);
  return soa ? [soa] : [];
}
