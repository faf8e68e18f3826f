import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The files of an etcd cluster's TLS: one CA, and server, peer and client certificates it signed. */
export interface EtcdPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  peerCert: string;
  peerKey: string;
  clientCert: string;
  clientKey: string;
}

export function etcdPkiFiles(dir: string): EtcdPki {
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server-key.pem'),
    peerCert: join(dir, 'peer.pem'),
    peerKey: join(dir, 'peer-key.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client-key.pem'),
  };
}

/** A client's `--etcd-cafile/--etcd-certfile/--etcd-keyfile` for the PKI in `dir`. */
export function etcdClientCredentials(dir: string): { cafile: string; certfile: string; keyfile: string } {
  const pki = etcdPkiFiles(dir);
  return { cafile: pki.ca, certfile: pki.clientCert, keyfile: pki.clientKey };
}

/**
 * Makes the CA and certificates with openssl. Server and peer certificates
 * name every member address, 127.0.0.1 and `localhost` (gRPC over a Unix
 * socket checks the name `localhost`); the client certificate is what
 * every agent, controller and CLI presents. The directory and keys are
 * readable by their owner only; the CA key is deleted once it has signed.
 */
export async function makeEtcdPki(dir: string, memberIps: readonly string[], days = 30): Promise<EtcdPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = etcdPkiFiles(dir);
  // Loaded here: every keel command reads the sandbox's file names from this module, and only `keel up` runs openssl.
  const { execa } = await import('execa');
  const ossl = (args: string[]) => execa('openssl', args, { cwd: dir });
  const caKey = join(dir, 'ca-key.pem');
  await ossl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    pki.ca,
    '-days',
    String(days),
    '-subj',
    '/CN=keel-etcd-ca',
  ]);
  const sans = ['DNS:localhost', 'IP:127.0.0.1', ...memberIps.map((ip) => `IP:${ip}`)].join(',');
  const certs = [
    // etcd's own gRPC gateway dials the member with the server certificate, and peers dial each other: both usages.
    { cert: pki.serverCert, key: pki.serverKey, cn: 'etcd-server', usage: 'serverAuth,clientAuth', sans: true },
    { cert: pki.peerCert, key: pki.peerKey, cn: 'etcd-peer', usage: 'serverAuth,clientAuth', sans: true },
    { cert: pki.clientCert, key: pki.clientKey, cn: 'keel', usage: 'clientAuth', sans: false },
  ];
  for (const c of certs) {
    const ext = join(dir, `${c.cn}.cnf`);
    const csr = join(dir, `${c.cn}.csr`);
    writeFileSync(
      ext,
      [...(c.sans ? [`subjectAltName=${sans}`] : []), `extendedKeyUsage=${c.usage}`, 'keyUsage=digitalSignature,keyEncipherment', ''].join(
        '\n',
      ),
    );
    await ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', c.key, '-out', csr, '-subj', `/CN=${c.cn}`]);
    await ossl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.ca,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      c.cert,
      '-days',
      String(days),
      '-extfile',
      ext,
    ]);
    chmodSync(c.key, 0o600);
    rmSync(ext);
    rmSync(csr);
  }
  rmSync(caKey);
  rmSync(join(dir, 'ca.srl'), { force: true });
  return pki;
}
