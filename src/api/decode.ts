import { parseAllDocuments } from 'yaml';
import { DecodeError } from './errors.js';
import { validateObject, type ApiObject } from './object.js';

/**
 * Reads manifests as kubectl does: one or more YAML documents (JSON is
 * YAML too), where a `List` contributes its items. Every object is
 * validated; the first bad one stops the whole input so nothing half-applies.
 */
export function decodeManifests(text: string, source: string): ApiObject[] {
  return parseManifestValues(text, source).map((v) => validateObject(v, source));
}

/** The documents of a manifest as plain values, Lists expanded, not yet validated (the sandbox validates its own kinds). */
export function parseManifestValues(text: string, source: string): unknown[] {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const values: unknown[] = [];
  for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line;
      throw new DecodeError(source, `malformed YAML${line ? ` at line ${line}` : ''} (document ${i + 1}): ${err.message.split('\n')[0]}`);
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    values.push(...expandLists(value));
  }
  return values;
}

function expandLists(value: unknown): unknown[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
      return Array.isArray(o.items) ? o.items.flatMap(expandLists) : [];
    }
  }
  return [value];
}
