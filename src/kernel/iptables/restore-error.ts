import { KeelError } from '../../api/errors.js';

/**
 * iptables-restore refused its input. Carries the failing line and its
 * neighbours, so a log line shows the rule that broke without a rerun.
 */
export class RestoreError extends KeelError {
  override name = 'RestoreError' as const;
  /** 1-based line of the input iptables-restore reported, if it said. */
  readonly line: number | undefined;
  /** `N: text` for the failing line and up to two lines each side. */
  readonly context: readonly string[];
  readonly stderr: string;

  constructor(subject: string, input: string, stderr: string, cause?: unknown) {
    const line = failingLine(stderr);
    const context = line === undefined ? [] : neighbours(input, line, 2);
    const reason = firstReason(stderr);
    const where = line === undefined ? '' : ` at line ${line}: ${input.split('\n')[line - 1] ?? ''}`;
    super('KEEL_RESTORE_FAILED', `iptables-restore failed${where}${reason ? ` (${reason})` : ''}`, { subject, cause });
    this.line = line;
    this.context = context;
    this.stderr = stderr;
  }
}

/** Both messages iptables-restore prints: "line N failed" (commit) and "Error occurred at line: N" (parse). */
export function failingLine(stderr: string): number | undefined {
  const m = /line (\d+) failed/.exec(stderr) ?? /Error occurred at line: (\d+)/.exec(stderr);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function neighbours(input: string, line: number, radius: number): string[] {
  const lines = input.split('\n');
  const out: string[] = [];
  for (let n = Math.max(1, line - radius); n <= Math.min(lines.length, line + radius); n++) out.push(`${n}: ${lines[n - 1] ?? ''}`);
  return out;
}

function firstReason(stderr: string): string {
  const useful = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('Try `') && !l.startsWith('Error occurred at line') && !/^# Warning/.test(l));
  return (useful[0] ?? '').replace(/^iptables-restore(?: v[\d.]+ \([\w_]+\))?:\s*/, '');
}
