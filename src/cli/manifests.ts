import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../api/errors.js';
import { decodeManifests } from '../api/decode.js';
import type { ApiObject } from '../api/object.js';

const MANIFEST = /\.(ya?ml|json)$/;

/** Reads `-f` arguments: files, directories (recursively, sorted) or `-` for stdin. Everything is validated before anything is written. */
export function readManifests(paths: readonly string[]): ApiObject[] {
  if (paths.length === 0) throw new UsageError('-f: give at least one file, directory or "-"');
  return paths.flatMap((p) => (p === '-' ? decodeManifests(readFileSync(0, 'utf8'), '<stdin>') : expand(p).flatMap(readOne)));
}

function expand(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UsageError(`-f: ${path}: no such file or directory`);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((name) => {
    const child = join(path, name);
    return statSync(child).isDirectory() ? expand(child) : MANIFEST.test(name) ? [child] : [];
  });
}

function readOne(file: string): ApiObject[] {
  return decodeManifests(readFileSync(file, 'utf8'), file);
}
