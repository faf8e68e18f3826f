/** `Name:                     web`: kubectl describe's aligned fields. */
export function field(label: string, value: string): string {
  return `${`${label}:`.padEnd(26)}${value}`;
}

/** A titled block after a blank line, its lines indented by two. */
export function section(title: string, lines: readonly string[]): string[] {
  return ['', `${title}:`, ...lines.map((l) => `  ${l}`)];
}

/** Columns two spaces apart, each as wide as its widest cell (keel status, describe's endpoint table). */
export function columns(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}
