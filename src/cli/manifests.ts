import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../api/errors.js';
import { parseManifestValues } from '../api/decode.js';
import { validateObject, type ApiObject } from '../api/object.js';

const MANIFEST = /\.(ya?ml|json)$/;

/** Reads `-f` arguments: files, directories (recursively, sorted) or `-` for stdin. Everything is validated before anything is written. */
export function readManifests(paths: readonly string[]): ApiObject[] {
  return readManifestDocs(paths).map((d) => validateObject(d.value, d.source));
}

export interface ManifestDoc {
  value: unknown;
  source: string;
}

/** The documents of `-f` arguments, unvalidated: `keel apply` validates sandbox workloads (RC, Deployment) apart. */
export function readManifestDocs(paths: readonly string[]): ManifestDoc[] {
  if (paths.length === 0) throw new UsageError('-f: give at least one file, directory or "-"');
  return paths.flatMap((p) =>
    p === '-' ? docsOf(readFileSync(0, 'utf8'), '<stdin>') : expand(p).flatMap((f) => docsOf(readFileSync(f, 'utf8'), f)),
  );
}

function docsOf(text: string, source: string): ManifestDoc[] {
  return parseManifestValues(text, source).map((value) => ({ value, source }));
}

function expand(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UsageError(`-f: ${path}: no such file or directory`);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => {
      const child = join(path, name);
      return statSync(child).isDirectory() ? expand(child) : MANIFEST.test(name) ? [child] : [];
    });
}
