/**
 * What /healthz and /readyz report. Each component that syncs tells when
 * its last sync succeeded and how often it is meant to sync; it is
 * unhealthy when no sync has succeeded within twice that period, as
 * kube-proxy's healthz does.
 */
export interface HealthSource {
  readonly name: string;
  /** Ready: the first sync (or first list) is done. */
  ready(): boolean;
  /** ms since epoch of the last successful sync, undefined before the first. */
  lastSuccess(): number | undefined;
  /** The sync period health is judged against. */
  periodMs(): number;
}

export interface HealthReport {
  ok: boolean;
  lines: string[];
}

export function healthReport(sources: readonly HealthSource[], now: number): HealthReport {
  const lines = sources.map((s) => {
    const last = s.lastSuccess();
    if (last === undefined) return { ok: false, line: `${s.name}: no successful sync yet` };
    const age = now - last;
    const ok = age <= 2 * s.periodMs();
    return {
      ok,
      line: `${s.name}: last successful sync ${(age / 1000).toFixed(1)}s ago${ok ? '' : ` (limit ${((2 * s.periodMs()) / 1000).toFixed(0)}s)`}`,
    };
  });
  return { ok: lines.every((l) => l.ok), lines: lines.map((l) => l.line) };
}

export function readinessReport(sources: readonly HealthSource[]): HealthReport {
  const lines = sources.map((s) => ({ ok: s.ready(), line: `${s.name}: ${s.ready() ? 'ready' : 'not ready'}` }));
  return { ok: lines.every((l) => l.ok), lines: lines.map((l) => l.line) };
}
