import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../src/store/etcd-server.js';

type Pair = readonly [client: Socket, upstream: Socket];

/**
 * A relay in front of etcd that a test can cut, freeze or partition: a
 * network fault for one client while others keep writing to etcd
 * directly. The target is a TCP port on loopback or a Unix socket path;
 * the relay listens on a loopback port, or on `listenPath` — a socket file
 * reaches the relay from any network namespace, where the host's loopback
 * does not.
 */
export class StreamCutter {
  private server: Server | undefined;
  private readonly live = new Set<Pair>();
  /** freeze(): silent until cut(). */
  private readonly frozen = new Set<Pair>();
  /** partition(): silent until heal(). */
  private readonly held = new Set<Pair>();
  /** Accepted during a partition; connected upstream on heal(), as a retransmitted SYN gets through once the path is back. */
  private readonly waiting = new Set<Socket>();
  private partitioned = false;
  port = 0;

  constructor(
    private readonly target: number | string,
    private readonly listenPath?: string,
  ) {}

  get endpoint(): string {
    return this.listenPath === undefined ? `http://127.0.0.1:${this.port}` : `unix://${this.listenPath}`;
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      client.on('error', () => undefined);
      if (!this.partitioned) return this.forward(client);
      client.pause();
      this.waiting.add(client);
      client.on('close', () => this.waiting.delete(client));
    });
    const path = this.listenPath;
    if (path === undefined) this.port ||= await freePort();
    else rmSync(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (path === undefined) server.listen(this.port, '127.0.0.1', () => resolve());
      else server.listen(path, () => resolve());
    });
    this.server = server;
  }

  /**
   * Stops forwarding on the open connections without closing them, as a
   * dead peer or a dropped route does; new connections work.
   */
  freeze(): void {
    for (const pair of this.live) {
      stop(pair);
      this.frozen.add(pair);
    }
    this.live.clear();
  }

  /**
   * A silent partition: nothing flows either way and nothing is closed;
   * new connections are accepted and left unanswered.
   */
  partition(): void {
    this.partitioned = true;
    for (const pair of this.live) {
      stop(pair);
      this.held.add(pair);
    }
    this.live.clear();
  }

  /** Ends the partition: held connections carry what was buffered, waiting ones reach etcd now. */
  heal(): void {
    this.partitioned = false;
    for (const pair of this.held) {
      const [client, upstream] = pair;
      client.pipe(upstream).pipe(client);
      this.live.add(pair);
    }
    this.held.clear();
    for (const client of this.waiting) this.forward(client);
    this.waiting.clear();
  }

  /** Existing connections reset, new ones refused; open() listens again at the same address. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.partitioned = false;
    for (const pair of [...this.live, ...this.frozen, ...this.held]) for (const s of pair) this.kill(s);
    for (const s of this.waiting) this.kill(s);
    this.live.clear();
    this.frozen.clear();
    this.held.clear();
    this.waiting.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.listenPath !== undefined) rmSync(this.listenPath, { force: true });
  }

  private forward(client: Socket): void {
    const upstream = typeof this.target === 'number' ? connect(this.target, '127.0.0.1') : connect(this.target);
    upstream.on('error', () => undefined);
    const pair: Pair = [client, upstream];
    this.live.add(pair);
    const drop = (): void => {
      this.live.delete(pair);
      this.frozen.delete(pair);
      this.held.delete(pair);
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream).pipe(client);
  }

  /** A TCP reset where there is TCP; a Unix socket has no reset, only a close. */
  private kill(s: Socket): void {
    const tcp = s.remotePort !== undefined;
    if (tcp) s.resetAndDestroy();
    else s.destroy();
  }
}

function stop([client, upstream]: Pair): void {
  client.unpipe();
  upstream.unpipe();
  client.pause();
  upstream.pause();
}
