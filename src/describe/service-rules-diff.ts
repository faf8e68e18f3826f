import type { ServiceRules } from '../proxy-iptables/compile.js';
import { chainBody, planSync, type Candidate, type KernelView } from '../proxy-iptables/sync-plan.js';
import type { KeelTable } from '../proxy-iptables/render-restore.js';

export type ChainState = 'same' | 'differs' | 'missing' | 'stale';

export interface ServiceRulesDiff {
  /** This service's own chains: wanted ones, and stale ones the kernel's copies still jump to. */
  chains: { table: KeelTable; name: string; rules: number; state: ChainState }[];
  /** This service's rules in keel's shared chains (KUBE-SERVICES, KUBE-NODEPORTS, …) the kernel lacks. */
  missingLines: string[];
  /** Rules in the shared chains that name this service but that keel does not want. */
  extraLines: string[];
  /** `iptables-restore --noflush` input that would fix this service's own chains ('' when in sync). */
  restoreText: string;
}

const SHARED: readonly { table: KeelTable; chain: string; pick: (f: ServiceRules) => readonly string[] }[] = [
  { table: 'nat', chain: 'KUBE-SERVICES', pick: (f) => f.natServices },
  { table: 'nat', chain: 'KUBE-NODEPORTS', pick: (f) => f.natNodePorts },
  { table: 'filter', chain: 'KUBE-SERVICES', pick: (f) => f.filterServices },
  { table: 'filter', chain: 'KUBE-EXTERNAL-SERVICES', pick: (f) => f.filterExternal },
  { table: 'filter', chain: 'KUBE-PROXY-FIREWALL', pick: (f) => f.filterFirewall },
];

/**
 * `keel rules --diff` narrowed to one service: its fragment of the compiled
 * rules against what the kernel holds. Uses the sync planner itself, so
 * "differs" here means exactly "the agent's next sync would rewrite it".
 */
export function diffServiceRules(fragment: ServiceRules, view: KernelView, serviceNames: readonly string[]): ServiceRulesDiff {
  const wanted = new Set(fragment.natChains.map((c) => c.name));
  const candidates: Candidate[] = fragment.natChains.map((c) => ({ table: 'nat', name: c.name, chain: c }));
  // Chains the kernel's copies of this service's chains jump to but keel no longer wants (an endpoint gone).
  for (const c of fragment.natChains) {
    for (const target of jumpTargets(view.nat.get(c.name))) {
      if (!wanted.has(target) && view.nat.has(target) && !candidates.some((x) => x.name === target))
        candidates.push({ table: 'nat', name: target, chain: undefined });
    }
  }
  const chains = candidates.map((cand) => {
    const have = view[cand.table].get(cand.name);
    const state: ChainState = !cand.chain ? 'stale' : have === undefined ? 'missing' : have === chainBody(cand.chain) ? 'same' : 'differs';
    return { table: cand.table, name: cand.name, rules: cand.chain ? cand.chain.rules.length : lineCount(have), state };
  });
  const missingLines: string[] = [];
  const extraLines: string[] = [];
  for (const s of SHARED) {
    const have = (view[s.table].get(s.chain) ?? '').split('\n').filter(Boolean);
    const want = s.pick(fragment).map((r) => `-A ${s.chain} ${r}`);
    for (const line of want) if (!have.includes(line)) missingLines.push(`${s.table} ${line}`);
    for (const line of have)
      if (!want.includes(line) && serviceNames.some((n) => line.includes(`"${n} `) || line.includes(`"${n}"`)))
        extraLines.push(`${s.table} ${line}`);
  }
  const restoreText = planSync(candidates, { nat: [], filter: [] }, view).text;
  return { chains, missingLines, extraLines, restoreText };
}

export function isInSync(d: ServiceRulesDiff): boolean {
  return d.chains.every((c) => c.state === 'same') && d.missingLines.length === 0 && d.extraLines.length === 0;
}

function jumpTargets(body: string | undefined): string[] {
  return [...(body ?? '').matchAll(/ -[jg] (KUBE-(?:SEP|SVC|SVL|EXT|FW)-\S+)/g)].map((m) => m[1] as string);
}

function lineCount(body: string | undefined): number {
  return body ? body.split('\n').filter(Boolean).length : 0;
}
