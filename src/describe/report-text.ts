/** `Name:                     web`: kubectl describe's aligned fields. */
export function field(label: string, value: string): string {
  return `${`${label}:`.padEnd(26)}${value}`;
}

/** A titled block after a blank line, its lines indented by two. */
export function section(title: string, lines: readonly string[]): string[] {
  return ['', `${title}:`, ...lines.map((l) => `  ${l}`)];
}
