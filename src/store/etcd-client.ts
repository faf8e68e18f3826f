import { readFileSync } from 'node:fs';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { ConfigError } from '../api/errors.js';

export interface EtcdConnection {
  /** `http://h:p`, `https://h:p` or `unix:///abs/path`. */
  endpoints: string[];
  cafile?: string;
  certfile?: string;
  keyfile?: string;
  /** Deadline of one unary call; a dead etcd must not hang a command. */
  callTimeoutMs?: number;
  /**
   * grpc-js shares one connection per target among all clients of a process;
   * clients with different keys each get their own (the fleet bench runs
   * hundreds of simulated nodes per process, each connected as an agent is).
   */
  connectionKey?: string;
}

export function parseEndpoints(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** How each client was made, so a store can open a short-lived companion (see companionClient). */
const made = new WeakMap<Etcd3, EtcdConnection>();

/**
 * A new client to the same etcd on its own connection, for a request whose
 * failure must not touch `client`'s: the etcd3 library resets a host's
 * connection, with every watch stream on it, after an error it counts as
 * retryable — and grpc-proxy turns etcd's "compacted" into one (gRPC
 * UNKNOWN), and a call past its deadline is one too. `purpose` names the
 * connection: companions of one purpose share it. The caller closes it.
 */
export function companionClient(client: Etcd3, purpose = 'companion'): Etcd3 | undefined {
  const conn = made.get(client);
  return conn && createEtcdClient({ ...conn, connectionKey: `${conn.connectionKey ?? ''}/${purpose}` });
}

const hostFault = handleWhen(
  (err) => isRecoverableError(err) && !/required revision (has been compacted|is a future revision)/.test(err.message),
);

export function createEtcdClient(conn: EtcdConnection): Etcd3 {
  if (conn.endpoints.length === 0) throw new ConfigError('--etcd-endpoints', 'no etcd endpoint given');
  for (const e of conn.endpoints) {
    if (!/^(https?:\/\/[^/]+\/?|unix:\/\/\/.+)$/.test(e)) {
      throw new ConfigError('--etcd-endpoints', `${JSON.stringify(e)} is not an http://, https:// or unix:/// URL`);
    }
  }
  const callTimeoutMs = conn.callTimeoutMs ?? 5_000;
  const options: IOptions = {
    hosts: conn.endpoints.map((e) => e.replace(/\/$/, '')),
    dialTimeout: callTimeoutMs,
    // The library's defaults (etcd3's connection-pool), except for etcd's
    // refusal of a read at a revision: grpc-proxy passes "compacted" and
    // "future revision" on as UNKNOWN, a status the library counts as a host
    // fault, retried three times and opening the host's breaker for 5 s, so a
    // listing that learned its pinned revision was compacted could not fall
    // back to the current one (KvStore.list). A refusal is an answer.
    faultHandling: {
      host: () => circuitBreaker(hostFault, { halfOpenAfter: 5_000, breaker: new ConsecutiveBreaker(3) }),
      global: retry(hostFault, { maxAttempts: 3 }),
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    ...(conn.connectionKey === undefined ? {} : { grpcOptions: { 'keel.connection': conn.connectionKey } }),
  };
  if (conn.cafile || conn.certfile || conn.keyfile) {
    const read = (flag: string, path: string | undefined): Buffer | undefined => {
      if (!path) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new ConfigError(flag, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    };
    const rootCertificate = read('--etcd-cafile', conn.cafile);
    if (!rootCertificate) throw new ConfigError('--etcd-cafile', 'TLS to etcd needs the CA file');
    const credentials: NonNullable<IOptions['credentials']> = { rootCertificate };
    const privateKey = read('--etcd-keyfile', conn.keyfile);
    const certChain = read('--etcd-certfile', conn.certfile);
    if (privateKey) credentials.privateKey = privateKey;
    if (certChain) credentials.certChain = certChain;
    options.credentials = credentials;
  }
  const client = new Etcd3(options);
  made.set(client, conn);
  return client;
}
