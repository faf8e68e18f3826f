/**
 * The bodies of kube-apiserver's field errors (apimachinery
 * `field.Error.ErrorBody`), so a refused Service reads as it would from
 * kubectl: `spec.ipFamilies[0]: Invalid value: "IPv6": not configured on
 * this cluster`. Values print as Go's `%#v` does for the types they are:
 * a string quoted, a string list as `[]string{"a", "b"}`.
 */
export type FieldValue = string | readonly string[];

function goValue(value: FieldValue): string {
  return typeof value === 'string' ? JSON.stringify(value) : `[]string{${value.map((v) => JSON.stringify(v)).join(', ')}}`;
}

export function invalidValue(value: FieldValue, detail: string): string {
  return `Invalid value: ${goValue(value)}: ${detail}`;
}

export function unsupportedValue(value: string, supported: readonly string[]): string {
  return `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`;
}

export function duplicateValue(value: string): string {
  return `Duplicate value: ${JSON.stringify(value)}`;
}

export function forbidden(detail: string): string {
  return `Forbidden: ${detail}`;
}
