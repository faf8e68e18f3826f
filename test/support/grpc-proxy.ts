import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { freePort } from '../../src/store/etcd-server.js';
import { KvStore } from '../../src/store/kv-store.js';
import { stopChild } from '../../src/runtime/stop-child.js';

/**
 * A real `etcd grpc-proxy start` (Debian's etcd-server binary) on a free
 * loopback port in front of one etcd endpoint: the watch-coalescing proxy
 * docs/scale.md recommends per rack. stop() ends it by its PID and removes
 * its data dir.
 */
export class GrpcProxy {
  private child: ChildProcess | undefined;
  private readonly dataDir = mkdtempSync(join(tmpdir(), 'kf3-proxy-'));
  port = 0;

  constructor(private readonly upstream: string) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    const child = spawn(
      'etcd',
      [
        'grpc-proxy',
        'start',
        '--endpoints',
        this.upstream.replace(/^https?:\/\//, ''),
        '--listen-addr',
        `127.0.0.1:${this.port}`,
        '--data-dir',
        this.dataDir,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    // The proxy has no health endpoint of its own: it is up once a read through it answers.
    const probe = new KvStore(createEtcdClient({ endpoints: [this.endpoint], callTimeoutMs: 1_000 }), [this.endpoint]);
    try {
      for (let attempt = 0; ; attempt++) {
        if (child.exitCode !== null) throw new Error(`etcd grpc-proxy exited with ${child.exitCode}`);
        try {
          await probe.get('/');
          return;
        } catch (err) {
          if (attempt > 200) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      probe.close();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await stopChild(child);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
