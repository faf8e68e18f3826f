import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopChild } from '../../src/runtime/stop-child.js';
import { EtcdServer, freePort } from '../../src/store/etcd-server.js';
import { keel, KEEL_BIN } from '../support/keel-cli.js';

/*
 * `keel dns` with its default worker thread (--dns-workers 1) where koffi cannot load: a preload
 * hides the koffi package from require, as on a platform koffi has no build for. The server must
 * answer UDP on the agent's thread (the dgram path) after one warning line. A control run without
 * the preload prints no such line. Everything on 127.0.0.1: the test's own etcd, keel dns on a
 * free port, real dig.
 */
const etcd = new EtcdServer();
const dir = mkdtempSync(join(tmpdir(), 'kr3-dns-fallback-'));
const preload = join(dir, 'hide-koffi.cjs');
const children: ChildProcess[] = [];
const WARNING = 'dns worker threads unavailable';

/** Starts `keel dns` on a free loopback port; resolves with the port and the log read so far once it listens. */
async function startDns(env: Record<string, string>): Promise<{ port: number; log: () => string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      KEEL_BIN,
      'dns',
      '--dns-listen',
      `127.0.0.1:${port}`,
      '--etcd-endpoints',
      etcd.endpoint,
      '--upstream',
      '127.0.0.1:1',
      '--cluster-cidr',
      '10.244.0.0/16',
      '--service-cluster-ip-range',
      '10.96.0.0/12',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  children.push(child);
  let out = '';
  const listening = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('dns server listening')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`keel dns exited (${String(code)}):\n${out}`)));
  });
  await listening;
  return { port, log: () => out };
}

/** The A answer, asked again (at most 40 times) while the server is still loading its first snapshot (SERVFAIL: empty). */
async function digA(port: number, name: string): Promise<string> {
  for (let i = 0; ; i++) {
    const res = await execa('dig', ['@127.0.0.1', '-p', String(port), name, 'A', '+short', '+tries=3', '+time=2'], { timeout: 30_000 });
    const answer = String(res.stdout).trim();
    if (answer || i === 39) return answer;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  writeFileSync(
    preload,
    `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'koffi') throw new Error("Cannot find module 'koffi' (hidden by the test's preload)");
  return resolve.call(this, request, ...rest);
};
`,
  );
  await etcd.start();
  const res = await keel(
    ['apply', '-f', '-'],
    { KEEL_ETCD_ENDPOINTS: etcd.endpoint },
    'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: 10.96.31.10, ports: [{port: 80}]}\n',
  );
  expect(res.stderr).toBe('');
}, 60_000);

afterAll(async () => {
  for (const child of children) await stopChild(child);
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('keel dns --dns-workers 1 without koffi', () => {
  it('answers on the agent thread after one warning line', async () => {
    const dns = await startDns({ NODE_OPTIONS: `--require ${preload}` });
    expect(await digA(dns.port, 'web.default.svc.cluster.local')).toBe('10.96.31.10');
    const warnings = dns
      .log()
      .split('\n')
      .filter((l) => l.includes(WARNING));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/level=warn .*error=.*cannot load koffi/);
  }, 60_000);

  it('prints no warning where koffi loads (the worker answers)', async () => {
    const dns = await startDns({});
    expect(await digA(dns.port, 'web.default.svc.cluster.local')).toBe('10.96.31.10');
    expect(dns.log()).not.toContain(WARNING);
  }, 60_000);
});
