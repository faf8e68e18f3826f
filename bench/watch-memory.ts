/**
 * Memory per idle watcher in etcd and in etcd's grpc-proxy, without the
 * list buffers that the fleet bench's "RSS growth / 4N" includes (issue 18,
 * docs/scale.md). One private etcd (1,000 Endpoints loaded) with
 * `--enable-pprof`, optionally one `etcd grpc-proxy start` in front of it
 * (also with pprof); then N watches opened with keel's own KvStore.watch from
 * the current revision — no list, no event — 4 per client connection as one
 * node holds them, on the one gRPC stream a node's store shares among its watches. After each step: the Go heap after
 * a forced GC (pprof heap?gc=1&debug=1: HeapAlloc, Stack) and VmRSS of etcd
 * and the proxy, with etcd's own watcher and stream counts beside.
 * Prints progress lines only: memory does not depend on load, but the
 * committed figures are the lead's to refresh.
 * Run: npm run build:dev && node dist-dev/bench/watch-memory.js [direct|proxy] [0,1000,2000,4000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setMaxListeners } from 'node:events';
import { setLogLevel } from '../src/observe/log.js';
import { createEtcdClient } from '../src/store/etcd-client.js';
import { EtcdServer, freePort } from '../src/store/etcd-server.js';
import { KvStore, type TxnOp } from '../src/store/kv-store.js';
import { progress } from './figures.js';

const BENCH = 'watch-memory';
const PREFIXES = ['/registry/services/specs/', '/registry/services/endpoints/', '/registry/pods/', '/coreos.com/network/subnets/'];

/** Go heap in use after a GC, goroutine stacks and RSS of a process serving pprof at `base`. */
async function memory(base: string, pid: number): Promise<string> {
  const text = await (await fetch(`${base}/debug/pprof/heap?gc=1&debug=1`)).text();
  const mb = (name: string): string => (Number(new RegExp(`# ${name} = (\\d+)`).exec(text)?.[1]) / 1048576).toFixed(1);
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
  return `heap ${mb('HeapAlloc')} MB, stacks ${mb('Stack')} MB, RSS ${rss.toFixed(1)} MB`;
}

async function metric(base: string, name: string): Promise<string> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return (
    text
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.split(' ')[1] ?? '?'
  );
}

async function main(): Promise<void> {
  setLogLevel('warn');
  const mode = process.argv[2] === 'proxy' ? 'proxy' : 'direct';
  const steps = (process.argv[3] ?? '0,1000,2000,4000').split(',').map(Number);
  const server = new EtcdServer({ extraArgs: ['--enable-pprof'] });
  const proxyDir = mkdtempSync(join(tmpdir(), 'keel-watch-memory-'));
  const nodes: KvStore[] = [];
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  let proxy: ReturnType<typeof spawn> | undefined;
  try {
    await server.start();
    const writer = new KvStore(createEtcdClient({ endpoints: [server.endpoint] }), [server.endpoint]);
    const ops: TxnOp[] = Array.from({ length: 1000 }, (_, i) => ({ put: `${PREFIXES[1]}default/s${i}`, value: 'x'.repeat(300) }));
    for (let i = 0; i < ops.length; i += 100) await writer.txn([], ops.slice(i, i + 100));
    writer.close();
    let endpoint = server.endpoint;
    if (mode === 'proxy') {
      const port = await freePort();
      endpoint = `http://127.0.0.1:${port}`;
      const upstream = `127.0.0.1:${server.clientPort}`;
      const args = [
        'grpc-proxy',
        'start',
        '--endpoints',
        upstream,
        '--listen-addr',
        `127.0.0.1:${port}`,
        '--enable-pprof',
        '--data-dir',
        proxyDir,
      ];
      proxy = spawn('etcd', args, { stdio: 'ignore' });
      const probe = new KvStore(createEtcdClient({ endpoints: [endpoint], callTimeoutMs: 1_000 }), [endpoint]);
      for (let attempt = 0; ; attempt++) {
        try {
          await probe.get('/');
          break;
        } catch (err) {
          if (attempt > 100) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      probe.close();
    }
    let open = 0;
    for (const n of steps) {
      for (; open < n; open++) {
        if (open % PREFIXES.length === 0)
          nodes.push(new KvStore(createEtcdClient({ endpoints: [endpoint], connectionKey: `node-${open}` }), [endpoint]));
        const node = nodes.at(-1) as KvStore;
        await new Promise<void>((resolve, reject) => {
          const handlers = { onCreated: () => resolve(), onChanges: () => undefined, onProgress: () => undefined };
          node.watch(PREFIXES[open % PREFIXES.length] as string, 0, handlers, ac.signal, { probeIntervalMs: 3_600_000 }).catch(reject);
        });
      }
      await new Promise((r) => setTimeout(r, 3_000));
      const watchers = await metric(server.endpoint, 'etcd_debugging_mvcc_watcher_total');
      const streams = await metric(server.endpoint, 'etcd_debugging_mvcc_watch_stream_total');
      let line = `${mode}, ${n} idle watchers: etcd ${await memory(server.endpoint, server.pid as number)} (${watchers} watchers, ${streams} streams in etcd)`;
      if (proxy?.pid) line += `; proxy ${await memory(endpoint, proxy.pid)}`;
      progress(BENCH, `${line} (load ${loadavg()[0]?.toFixed(1)})`);
    }
  } finally {
    ac.abort();
    for (const n of nodes) n.close();
    proxy?.kill();
    await server.stop();
    rmSync(proxyDir, { recursive: true, force: true });
  }
}

await main();
