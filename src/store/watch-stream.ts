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
  /** How often an idle stream is probed; two silent probes in a row declare it dead. */
  probeIntervalMs?: number;
  /**
   * How long etcd may take to accept the watch. A member cut off without a
   * reset accepts the stream and never answers; the client library picks
   * members at random, so a quick give-up keeps an unlucky pick from costing
   * a full probe cycle.
   */
  createTimeoutMs?: number;
}

/**
 * One watch of a prefix on its own gRPC stream, from `fromRevision`
 * inclusive. Resolves when etcd says the revision was compacted (the
 * caller must relist) or the signal aborts; rejects when the stream
 * fails or a handler throws, so the caller resumes from its last revision.
 *
 * The raw stream is used instead of the client's WatchBuilder because the
 * builder resumes from the response header revision (which can run ahead
 * of the events delivered during a catch-up) and reports compaction only
 * as an untyped error, without the compact revision.
 */
export function watchPrefix(
  client: Etcd3,
  prefix: string,
  fromRevision: number,
  handlers: WatchHandlers,
  signal: AbortSignal,
  options: WatchOptions = {},
): Promise<WatchEnd> {
  const probeIntervalMs = options.probeIntervalMs ?? 10_000;
  const createTimeoutMs = options.createTimeoutMs ?? 5_000;
  return new Promise<WatchEnd>((resolve, reject) => {
    if (signal.aborted) return resolve({ reason: 'aborted' });
    let settled = false;
    let heard = true;
    let probed = false;
    let created = false;
    let stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>> | undefined;

    const settle = (end: WatchEnd | Error, connectionDead = false): void => {
      if (settled) return;
      settled = true;
      clearInterval(probe);
      clearTimeout(createDeadline);
      signal.removeEventListener('abort', onAbort);
      // end() before cancel() keeps the client library from counting our own
      // cancellation as a host failure and tearing down the shared connection;
      // a silent connection is exactly what should be torn down.
      if (!connectionDead) stream?.end();
      stream?.cancel();
      if (end instanceof Error) reject(end);
      else resolve(end);
    };
    const onAbort = (): void => settle({ reason: 'aborted' });
    signal.addEventListener('abort', onAbort, { once: true });

    const probe = setInterval(() => setImmediate(check), probeIntervalMs);
    const check = (): void => {
      if (settled) return;
      if (heard) {
        heard = false;
        probed = false;
        return;
      }
      if (probed) return settle(new WatchFailedError(prefix, `no answer from etcd within ${2 * probeIntervalMs} ms`), true);
      if (!created) return; // the create deadline watches that phase
      probed = true;
      // A watch of an empty range (key = end), which etcd and grpc-proxy both
      // refuse at once with watch id -1. Not a progress request: grpc-proxy
      // drops those unanswered, so every idle stream through it would be
      // declared dead and its connection torn down each 2 probe periods.
      stream?.write({ create_request: { key: Buffer.from(prefix), range_end: Buffer.from(prefix) } });
    };

    // The check waits one turn of the event loop: after a long synchronous stretch (a big list decoded,
    // a restore rendered) timers run before pending I/O, and an answer already received must count.
    const createDeadline = setTimeout(
      () =>
        setImmediate(() => {
          if (!created) settle(new WatchFailedError(prefix, `etcd did not accept the watch within ${createTimeoutMs} ms`), true);
        }),
      createTimeoutMs,
    );

    const onData = (res: IWatchResponse): void => {
      if (settled) return;
      heard = true;
      if (created && res.created && res.canceled && Number(res.watch_id) === -1) return; // a probe's answer
      created = true;
      clearTimeout(createDeadline);
      const compactRevision = Number(res.compact_revision);
      if (compactRevision > 0) return settle({ reason: 'compacted', compactRevision });
      if (res.canceled) return settle(new WatchFailedError(prefix, `etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`));
      const head = Number(res.header.revision);
      if (res.created) handlers.onCreated(head, res.header.cluster_id);
      if (res.events.length > 0) {
        handlers.onChanges(
          res.events.map((ev) => ({
            key: ev.kv.key.toString(),
            value: ev.type === 'Delete' ? undefined : ev.kv.value,
            modRevision: Number(ev.kv.mod_revision),
          })),
          head,
        );
      } else if (!res.created) {
        handlers.onProgress(head);
      }
    };

    client.watchClient.watch().then(
      (s) => {
        stream = s;
        if (settled) {
          s.end();
          s.cancel();
          return;
        }
        s.on('data', (res) => {
          try {
            onData(res);
          } catch (err) {
            settle(err instanceof Error ? err : new Error(String(err)));
          }
        });
        s.on('error', (err) => settle(new WatchFailedError(prefix, err.message.split('\n')[0] ?? 'stream error', err)));
        s.on('end', () => settle(new WatchFailedError(prefix, 'etcd closed the watch stream')));
        s.write({
          create_request: {
            key: Buffer.from(prefix),
            range_end: prefixEnd(prefix),
            start_revision: fromRevision,
            progress_notify: true,
          },
        });
      },
      (err: unknown) => settle(new WatchFailedError(prefix, err instanceof Error ? err.message : String(err), err)),
    );
  });
}

class WatchFailedError extends KeelError {
  override name = 'WatchFailedError' as const;
  constructor(prefix: string, message: string, cause?: unknown) {
    super('KEEL_ETCD_UNAVAILABLE', message, { subject: `watch ${prefix}`, cause });
  }
}
