import type { Etcd3, IWatchResponse } from 'etcd3';
import { KeelError } from '../api/errors.js';
import { prefixEnd } from './prefix-end.js';

/** One change as a watch reports it; `value` is absent for deletes. */
export interface WatchChange {
  key: string;
  value: Buffer | undefined;
  modRevision: number;
}

export interface WatchHandlers {
  /** etcd accepted the watch: the connection is up. `headRevision` is etcd's current revision. */
  onCreated(headRevision: number, clusterId: string): void;
  /**
   * Changes in revision order, whole revisions only. `headRevision` is
   * etcd's revision when it sent them, so head − last mod revision is the lag.
   */
  onChanges(changes: WatchChange[], headRevision: number): void;
  /** Nothing under the prefix changed up to `revision` (a progress notification). */
  onProgress(revision: number): void;
}

export type WatchEnd = { reason: 'compacted'; compactRevision: number } | { reason: 'aborted' };

export interface WatchOptions {
  /**
   * How often an idle stream is probed; two silent probes in a row declare
   * it dead. A stream shared by watches asking different periods uses the shortest.
   */
  probeIntervalMs?: number;
  /**
   * How long etcd may take to accept the watch on a stream it has not
   * answered yet. A member cut off without a reset accepts the stream and
   * never answers; the client library picks members at random, so this
   * watch gives up quickly and its retry opens a new stream (perhaps on
   * another member). Only this watch: the others waiting on the stream
   * stay, as with clientv3, which has no create deadline at all.
   */
  createTimeoutMs?: number;
}

/** Any key: a probe watches the empty range from it to itself. */
const PROBE_KEY = Buffer.from('/');

type GrpcWatchStream = Awaited<ReturnType<Etcd3['watchClient']['watch']>>;

/** One caller's watch: where its answers go and how it ends. */
interface Watcher {
  readonly prefix: string;
  readonly fromRevision: number;
  readonly handlers: WatchHandlers;
  /** etcd's id for it once created. */
  id?: string;
  finish(end: WatchEnd | Error): void;
}

/** A create request waiting for etcd's answer: a caller's watch, or a liveness probe. */
type Create = { watcher: Watcher } | { probe: true };

/**
 * All watches of one etcd client on one gRPC watch stream, as etcd's own
 * clientv3 multiplexes them: etcd keeps two goroutines and their buffers
 * per stream, so a node's four watches on one stream cost it one stream's
 * worth (docs/scale.md). Each `watch()` behaves as if it had the stream to
 * itself; a failed stream fails every watch on it, and the next `watch()`
 * opens a new one (on whichever member the client library picks).
 */
export class WatchStreams {
  private stream: SharedStream | undefined;

  constructor(private readonly client: Etcd3) {}

  /**
   * Watches a prefix from `fromRevision` inclusive. Resolves when etcd says
   * the revision was compacted (the caller must relist) or the signal
   * aborts; rejects when the stream fails or a handler throws, so the
   * caller resumes from its last revision.
   *
   * The raw stream is used instead of the client's WatchBuilder because the
   * builder resumes from the response header revision (which can run ahead
   * of the events delivered during a catch-up) and reports compaction only
   * as an untyped error, without the compact revision.
   */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers, signal: AbortSignal, options: WatchOptions = {}): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      if (signal.aborted) return resolve({ reason: 'aborted' });
      let stream = this.stream;
      if (!stream?.alive()) {
        stream = new SharedStream(this.client, () => {
          if (this.stream === stream) this.stream = undefined;
        });
        this.stream = stream;
      }
      const onAbort = (): void => shared.remove(watcher, { reason: 'aborted' });
      const watcher: Watcher = {
        prefix,
        fromRevision,
        handlers,
        finish: (end) => {
          signal.removeEventListener('abort', onAbort);
          if (end instanceof Error) reject(end);
          else resolve(end);
        },
      };
      const shared = stream;
      signal.addEventListener('abort', onAbort, { once: true });
      shared.add(watcher, options);
    });
  }
}

class SharedStream {
  private grpc: GrpcWatchStream | undefined;
  private dead = false;
  private readonly watchers = new Set<Watcher>();
  private readonly byId = new Map<string, Watcher>();
  /** Creates in the order sent; only the head is on the wire. etcd answers creates in order, a grpc-proxy does not always. */
  private readonly creates: Create[] = [];
  private inFlight = false;
  private createTimeoutMs = 5_000;
  private createDeadline: NodeJS.Timeout | undefined;
  private probeIntervalMs = Number.POSITIVE_INFINITY;
  private probe: NodeJS.Timeout | undefined;
  private heard = true;
  private probed = false;
  /**
   * etcd has answered something on this stream. Until then a create not
   * accepted in time means an unlucky member; after, a slow create means a
   * slow etcd or a busy node, and failing the stream for it would take every
   * established watch on it down too (the 250-node relist storm, #18): the
   * probe's two silent periods judge such a stream instead.
   */
  private answered = false;
  /**
   * A create missed its deadline before etcd answered anything: that watch
   * gave up alone, and its retry (like any new watch) opens a fresh stream
   * rather than queue again behind the silent one. The watches still queued
   * here stay: a slow etcd or busy node will answer them, a dead member is
   * found by the probe.
   */
  private late = false;

  constructor(
    client: Etcd3,
    private readonly onClosed: () => void,
  ) {
    client.watchClient.watch().then(
      (s) => {
        this.grpc = s;
        if (this.dead) return this.close(false);
        s.on('data', (res: IWatchResponse) => this.onData(res));
        s.on('error', (err: Error) => this.fail(err.message.split('\n')[0] ?? 'stream error', err));
        s.on('end', () => this.fail('etcd closed the watch stream'));
        this.sendNext();
      },
      (err: unknown) => this.fail(err instanceof Error ? err.message : String(err), err),
    );
  }

  /** Whether new watches may still join (a stream with no watches left is closed). */
  alive(): boolean {
    return !this.dead && !this.late;
  }

  add(watcher: Watcher, options: WatchOptions): void {
    this.watchers.add(watcher);
    this.createTimeoutMs = options.createTimeoutMs ?? this.createTimeoutMs;
    const interval = options.probeIntervalMs ?? 10_000;
    if (interval < this.probeIntervalMs) {
      this.probeIntervalMs = interval;
      clearInterval(this.probe);
      this.probe = setInterval(() => setImmediate(() => this.check()), interval);
    }
    this.creates.push({ watcher });
    this.sendNext();
  }

  /** Ends one watch (aborted, compacted, failed in a handler); the stream stays for the others. */
  remove(watcher: Watcher, end: WatchEnd | Error, cancelledByEtcd = false): void {
    if (!this.watchers.delete(watcher)) return;
    watcher.finish(end);
    if (watcher.id !== undefined) {
      this.byId.delete(watcher.id);
      if (!cancelledByEtcd && !this.dead) this.grpc?.write({ cancel_request: { watch_id: watcher.id } });
    }
    // Not yet sent: forget it. On the wire: its answer, when it comes, is cancelled (onCreated).
    const queued = this.creates.findIndex((c, i) => 'watcher' in c && c.watcher === watcher && !(i === 0 && this.inFlight));
    if (queued >= 0) this.creates.splice(queued, 1);
    if (this.watchers.size === 0) this.close(false);
  }

  private sendNext(): void {
    const next = this.creates[0];
    if (!this.grpc || this.dead || this.inFlight || !next) return;
    this.inFlight = true;
    // The check waits one turn of the event loop: after a long synchronous stretch (a big list decoded,
    // a restore rendered) timers run before pending I/O, and an answer already received must count.
    if (!this.answered)
      this.createDeadline = setTimeout(
        () =>
          setImmediate(() => {
            if (this.inFlight && this.creates[0] === next && !this.answered) this.giveUp(next);
          }),
        this.createTimeoutMs,
      );
    if ('probe' in next) {
      // A watch of an empty range (key = end), which etcd and grpc-proxy both
      // refuse at once with watch id -1. Not a progress request: grpc-proxy
      // drops those unanswered, so every idle stream through it would be
      // declared dead and its connection torn down each 2 probe periods.
      this.grpc.write({ create_request: { key: PROBE_KEY, range_end: PROBE_KEY } });
      return;
    }
    const { prefix, fromRevision } = next.watcher;
    this.grpc.write({
      create_request: { key: Buffer.from(prefix), range_end: prefixEnd(prefix), start_revision: fromRevision, progress_notify: true },
    });
  }

  /**
   * The create at the head missed its deadline on a stream etcd has not
   * answered: only its watch fails (the answer, should it come, is
   * cancelled in onCreated). Failing the stream would fail every watch
   * queued behind it: on a node or etcd too busy to answer within the
   * deadline, that was a retry of all of the node's watches at once, over
   * and over (#18).
   */
  private giveUp(create: Create): void {
    const message = `etcd did not accept the watch within ${this.createTimeoutMs} ms`;
    // Alone on the stream (or a probe, nothing else waiting): the connection is the suspect, and failing
    // it as dead makes the client library reset it, so the retry does not meet the same silent one.
    if ('probe' in create || this.watchers.size <= 1) return this.fail(message, undefined, true);
    this.late = true;
    this.remove(create.watcher, new WatchFailedError(create.watcher.prefix, message));
  }

  private check(): void {
    if (this.dead) return;
    if (this.heard) {
      this.heard = false;
      this.probed = false;
      return;
    }
    if (this.probed) return this.fail(`no answer from etcd within ${2 * this.probeIntervalMs} ms`, undefined, true);
    // Until etcd first answers, the create deadline watches the stream; once a create gave up, the probe does.
    if (this.inFlight && !this.answered && !this.late) return;
    this.probed = true;
    // A create already waiting for its answer is as good a probe as a new one.
    if (this.inFlight) return;
    this.creates.push({ probe: true });
    this.sendNext();
  }

  private onData(res: IWatchResponse): void {
    if (this.dead) return;
    this.heard = true;
    this.answered = true;
    if (res.created) return this.onCreated(res);
    const watcher = this.byId.get(res.watch_id);
    if (watcher) this.dispatch(watcher, res);
  }

  /** The answer to the create at the head of the queue. */
  private onCreated(res: IWatchResponse): void {
    const create = this.creates.shift();
    this.inFlight = false;
    clearTimeout(this.createDeadline);
    const refused = res.canceled && Number(res.watch_id) === -1;
    if (create && 'watcher' in create) {
      const { watcher } = create;
      if (!this.watchers.has(watcher)) {
        // Aborted while etcd was creating it.
        if (!refused) this.grpc?.write({ cancel_request: { watch_id: res.watch_id } });
      } else if (refused) {
        this.remove(
          watcher,
          new WatchFailedError(watcher.prefix, `etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`),
          true,
        );
      } else {
        watcher.id = res.watch_id;
        this.byId.set(res.watch_id, watcher);
        this.dispatch(watcher, res);
      }
    }
    this.sendNext();
  }

  private dispatch(watcher: Watcher, res: IWatchResponse): void {
    try {
      const compactRevision = Number(res.compact_revision);
      // etcd 3.4 keeps a compacted watcher registered on its stream until it is cancelled (or the stream closes): cancel it.
      if (compactRevision > 0) return this.remove(watcher, { reason: 'compacted', compactRevision });
      if (res.canceled) {
        return this.remove(
          watcher,
          new WatchFailedError(watcher.prefix, `etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`),
          true,
        );
      }
      const head = Number(res.header.revision);
      if (res.created) watcher.handlers.onCreated(head, res.header.cluster_id);
      if (res.events.length > 0) {
        watcher.handlers.onChanges(
          res.events.map((ev) => ({
            key: ev.kv.key.toString(),
            value: ev.type === 'Delete' ? undefined : ev.kv.value,
            modRevision: Number(ev.kv.mod_revision),
          })),
          head,
        );
      } else if (!res.created) {
        watcher.handlers.onProgress(head);
      }
    } catch (err) {
      this.remove(watcher, err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** The stream is gone: every watch on it fails, and the caller resumes each from its own revision. */
  private fail(message: string, cause?: unknown, connectionDead = false): void {
    if (this.dead) return;
    this.close(connectionDead);
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.finish(new WatchFailedError(w.prefix, message, cause));
    }
  }

  private close(connectionDead: boolean): void {
    this.dead = true;
    clearInterval(this.probe);
    clearTimeout(this.createDeadline);
    this.onClosed();
    // end() before cancel() keeps the client library from counting our own
    // cancellation as a host failure and tearing down the shared connection;
    // a silent connection is exactly what should be torn down.
    if (!connectionDead) this.grpc?.end();
    this.grpc?.cancel();
  }
}

class WatchFailedError extends KeelError {
  override name = 'WatchFailedError' as const;
  constructor(prefix: string, message: string, cause?: unknown) {
    super('KEEL_ETCD_UNAVAILABLE', message, { subject: `watch ${prefix}`, cause });
  }
}
