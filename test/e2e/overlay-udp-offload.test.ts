import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { setIpChecksum } from '../../src/overlay/backends/inet-checksum.js';
import { OverlayLab, until, type Pod } from '../support/overlay-lab.js';
import { useOverlayLab } from '../support/use-overlay-lab.js';

/*
 * The udp backend's batched data path (TUN offloads, UDP GSO/GRO) between two
 * nodes of test/support/overlay-lab.ts (namespaces kug<run>…): a bulk TCP transfer with
 * the pods' TSO on (the TUN reads 64 KB super-packets) and off (MTU-sized
 * packets batched per peer) arrives byte for byte, several flows at once
 * through the TUN's queues (one per core, each with its own workers) too, and
 * a datagram as a plain flannel node sends it (one IPv4 packet, no GSO) is
 * delivered.
 */
const SIZE = 24 << 20;

describe('overlay udp backend: batched data path', () => {
  const lab = new OverlayLab('kug');
  let a: Pod;
  let b: Pod;
  const helpers: ChildProcess[] = [];

  useOverlayLab(lab, async () => {
    await lab.init('udp');
    await lab.startAgents([1, 2]);
    [a, b] = (await lab.addPods([1, 2])) as [Pod, Pod];
  });

  // Runs before useOverlayLab's teardown (after-hooks run last-registered first).
  afterAll(() => {
    for (const h of helpers) if (h.exitCode === null) h.kill('SIGKILL');
  });

  /** Sends SIZE random bytes from pod a to pod b over TCP; returns both SHA-256s. */
  async function transfer(port: number): Promise<[string, string]> {
    const src = join(lab.dir, `send-${port}`);
    const dst = join(lab.dir, `recv-${port}`);
    const data = randomBytes(SIZE);
    writeFileSync(src, data);
    const server = spawn('ip', ['netns', 'exec', b.ns, 'socat', '-u', `TCP-LISTEN:${port},reuseaddr`, `CREATE:${dst}`], {
      stdio: 'ignore',
    });
    helpers.push(server);
    const done = new Promise<void>((r) => server.once('exit', () => r()));
    for (let i = 0; i < 40; i++) {
      const res = await execa('ip', ['netns', 'exec', a.ns, 'socat', '-u', `FILE:${src}`, `TCP:${b.ip}:${port}`], {
        reject: false,
        timeout: 120_000,
      });
      if (res.exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await done;
    const hash = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');
    return [hash(data), existsSync(dst) ? hash(readFileSync(dst)) : 'nothing received'];
  }

  const counter = (text: string, name: string, direction: string): number =>
    Number(new RegExp(`keel_overlay_udp_${name}_total\\{direction="${direction}"\\} (\\d+)`).exec(text)?.[1] ?? 0);

  it('carries a bulk TCP transfer intact with the pods offloading (TSO super-packets through the TUN)', async () => {
    const [sent, received] = await transfer(7001);
    expect(received).toBe(sent);
    // The counters are published once a second.
    await until(async () => counter(await lab.metrics(1), 'packets', 'encap') > SIZE / 1500);
    const m1 = await lab.metrics(1);
    const m2 = await lab.metrics(2);
    // More than one datagram per send and per TUN write: the batching is on the path.
    expect(counter(m1, 'packets', 'encap')).toBeGreaterThan(2 * counter(m1, 'batches', 'encap'));
    expect(counter(m2, 'packets', 'decap')).toBeGreaterThan(2 * counter(m2, 'batches', 'decap'));
  }, 180_000);

  it('carries it intact with TSO/GSO/GRO off on the pods (MTU-sized packets, batched per peer)', async () => {
    for (const p of [a, b]) await execa('ip', ['netns', 'exec', p.ns, 'ethtool', '-K', 'eth0', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    const [sent, received] = await transfer(7002);
    expect(received).toBe(sent);
  }, 180_000);

  it('gives the TUN one queue per core and carries several flows at once intact', async () => {
    const queues = (i: number): Promise<string> =>
      execa('ip', ['netns', 'exec', lab.nodes[i - 1] as string, 'ls', '/sys/class/net/flannel0/queues']).then((r) => String(r.stdout));
    const want = Math.min(availableParallelism(), 8);
    for (const i of [1, 2]) expect((await queues(i)).split(/\s+/).filter((q) => q.startsWith('rx-'))).toHaveLength(want);
    // The kernel picks a TUN queue per flow by hash: four flows land on more than one queue when there are several.
    const results = await Promise.all([7003, 7004, 7005, 7006].map((port) => transfer(port)));
    for (const [sent, received] of results) expect(received).toBe(sent);
  }, 240_000);

  it('delivers a datagram from a plain flannel peer (one IPv4 packet, no GSO) to the pod', async () => {
    const got = join(lab.dir, 'flannel-peer');
    const listener = spawn('ip', ['netns', 'exec', a.ns, 'socat', '-u', 'UDP-RECV:9999', `CREATE:${got}`], { stdio: 'ignore' });
    helpers.push(listener);
    // What flannel's udp backend on node 2 sends for pod b → pod a: the IPv4/UDP packet itself, UDP checksum 0 (none).
    const payload = Buffer.from('from a flannel node\n');
    const inner = Buffer.alloc(28 + payload.length);
    inner[0] = 0x45;
    inner.writeUInt16BE(inner.length, 2);
    inner[8] = 64;
    inner[9] = 17;
    Buffer.from(b.ip.split('.').map(Number)).copy(inner, 12);
    Buffer.from(a.ip.split('.').map(Number)).copy(inner, 16);
    setIpChecksum(inner, 0);
    inner.writeUInt16BE(40000, 20);
    inner.writeUInt16BE(9999, 22);
    inner.writeUInt16BE(8 + payload.length, 24);
    payload.copy(inner, 28);
    const send = `const s = require('dgram').createSocket('udp4'); s.send(Buffer.from('${inner.toString('hex')}', 'hex'), 8285, '${lab.nodeIp(1)}', () => s.close());`;
    await until(async () => {
      await execa('ip', ['netns', 'exec', lab.nodes[1] as string, 'node', '-e', send]);
      return existsSync(got) && readFileSync(got, 'utf8') !== '';
    }, 20_000);
    // The loop sends again until a copy has landed, so a slow first delivery can leave two: each must be the payload.
    const copies = readFileSync(got, 'utf8').split(payload.toString());
    expect(copies.every((rest) => rest === '')).toBe(true);
  }, 60_000);
});
