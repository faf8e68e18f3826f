import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KeelError } from '../../api/errors.js';
import { ipFromValue } from '../../api/ip.js';
import { udpBatches, udpBytes, udpPackets } from '../metrics.js';
import type { BackendFactory } from './backend.js';
import { loadLibc, openTun } from '../../kernel/tun/libc.js';
import { sorted } from './plan-vxlan.js';
import { COUNTER_SLOT, COUNTERS, newTable, writeTable, type UdpWorkerData } from './udp-shared.js';

/** Outer IPv4 (20) + UDP (8). */
const UDP_OVERHEAD = 28;
const TUN_NAME = 'flannel0';
/** The TUN ring holds this many packets while the encap worker catches up; the default 500 overflows under one TCP flow. */
const TUN_QUEUE = 10_000;
/** One TUN queue per core, each with its encap and decap worker (flannel's C backend has one of each). */
const QUEUES = Math.min(availableParallelism(), 8);

/**
 * flannel's udp backend: a TUN device covering the whole Network; per TUN
 * queue, two worker threads move packets between it and UDP port 8285. The kernel
 * routes nothing per node here, so the plan is empty and the forwarding
 * table lives in shared memory the encap worker reads per packet.
 */
export const udp: BackendFactory = {
  type: 'udp',
  async setup(ctx, { port, logger }) {
    const mtu = ctx.underlay.mtu - UDP_OVERHEAD;
    const { fds: tunFds, offloads } = openTun(TUN_NAME, QUEUES);
    const dev = (await port.links()).find((l) => l.name === TUN_NAME);
    if (!dev) throw new KeelError('KEEL_NETLINK_FAILED', 'TUN device not found after TUNSETIFF', { subject: TUN_NAME });
    await port.setLink(dev.index, true, mtu, TUN_QUEUE);
    const table = newTable();
    const counters = new SharedArrayBuffer(2 * QUEUES * COUNTER_SLOT * 8);
    const stop = new SharedArrayBuffer(4);
    const subnetMask = ctx.config.subnetLen === 0 ? 0 : (~0 << (32 - ctx.config.subnetLen)) | 0;
    const workers: Worker[] = [];
    const start = (mode: 'encap' | 'decap', tunFd: number): void => {
      const data: UdpWorkerData = {
        mode,
        tunFd,
        port: ctx.config.backend.port,
        bindIp: Number(ctx.publicIp.value),
        subnetMask,
        table,
        counters,
        slot: workers.length,
        stop,
      };
      const w = new Worker(new URL('./udp-worker.js', import.meta.url), { workerData: data });
      w.on('error', (err) => logger.error('udp data path worker failed', { mode, error: err.message }));
      workers.push(w);
    };
    const published = new Float64Array(COUNTER_SLOT);
    const view = new Float64Array(counters);
    const total = (i: number): number => {
      let sum = 0;
      for (let w = 0; w < workers.length; w++) sum += view[w * COUNTER_SLOT + i] as number;
      return sum;
    };
    const publish = (): void => {
      const pairs: Array<[keyof typeof COUNTERS, 'packets' | 'bytes' | 'batches', string]> = [
        ['encapPackets', 'packets', 'encap'],
        ['encapBytes', 'bytes', 'encap'],
        ['decapPackets', 'packets', 'decap'],
        ['decapBytes', 'bytes', 'decap'],
        ['drops', 'packets', 'drop'],
        ['encapBatches', 'batches', 'encap'],
        ['decapBatches', 'batches', 'decap'],
      ];
      for (const [name, kind, direction] of pairs) {
        const i = COUNTERS[name];
        const now = total(i);
        const delta = now - (published[i] as number);
        if (delta > 0) ({ packets: udpPackets, bytes: udpBytes, batches: udpBatches })[kind].inc({ direction }, delta);
        published[i] = now;
      }
    };
    const timer = setInterval(publish, 1_000);
    timer.unref();
    for (const fd of tunFds) {
      start('decap', fd);
      start('encap', fd);
    }
    logger.info('udp backend up', { device: TUN_NAME, mtu, port: ctx.config.backend.port, offloads, queues: tunFds.length });
    return {
      type: 'udp',
      mtu,
      backendData: undefined,
      backendV6Data: undefined,
      ownedIfindexes: [],
      async configure({ subnet }) {
        // The address's prefix is the whole Network: its connected route sends every remote pod into the TUN.
        await port.addAddress(dev.index, ipFromValue(4, subnet.first), ctx.config.network.prefixLength);
      },
      plan: () => ({ routes: [], neighbors: [], fdb: [], refused: [] }),
      leasesChanged(leases, own) {
        writeTable(
          table,
          sorted(leases, own).map((l) => [Number(l.subnet.first) | 0, Number(l.attrs.publicIp.value) | 0] as const),
        );
      },
      async close() {
        clearInterval(timer);
        Atomics.store(new Int32Array(stop), 0, 1);
        await Promise.all(
          workers.map(
            (w) =>
              new Promise<void>((resolve) => {
                w.once('exit', () => resolve());
              }),
          ),
        );
        publish();
        for (const fd of tunFds) loadLibc().close(fd);
      },
    };
  },
};
