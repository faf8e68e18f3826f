import type { TestProject } from 'vitest/node';
import { EtcdServer } from '../../src/store/etcd-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoint: string;
  }
}

/** One real etcd for the whole run; each test file isolates itself under its own key prefix. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const etcd = new EtcdServer();
  await etcd.start();
  project.provide('etcdEndpoint', etcd.endpoint);
  return () => etcd.stop();
}
