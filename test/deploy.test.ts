import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildProgram } from '../src/cli/main.js';

/**
 * The files in deploy/ are what a user applies to a real cluster, where
 * nothing else would catch a typo before the nodes lose their network: check
 * them against what a DaemonSet needs and against keel's own flags.
 */

interface Container {
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: { privileged?: boolean; capabilities?: { add?: string[] } };
  livenessProbe?: { httpGet?: { path?: string; port?: number } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

interface DaemonSet {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        hostNetwork?: boolean;
        dnsPolicy?: string;
        priorityClassName?: string;
        tolerations?: { operator?: string; key?: string }[];
        containers: Container[];
        volumes?: { name: string; hostPath?: { path: string; type?: string } }[];
      };
    };
  };
}

const root = join(import.meta.dirname, '..');
const daemonSet = parse(readFileSync(join(root, 'deploy/daemonset.yaml'), 'utf8')) as DaemonSet;
const unitText = readFileSync(join(root, 'deploy/keel-agent.service'), 'utf8');
const doc = readFileSync(join(root, 'docs/real-cluster.md'), 'utf8');
const agentCommand = buildProgram().commands.find((c) => c.name() === 'agent') as Command;
const pod = daemonSet.spec.template.spec;
const container = pod.containers[0] as Container;

function agentDefault(long: string): unknown {
  return agentCommand.options.find((o) => o.long === long)?.defaultValue;
}

describe('deploy/daemonset.yaml', () => {
  it('is an apps/v1 DaemonSet in kube-system whose selector matches its pods', () => {
    expect(daemonSet.apiVersion).toBe('apps/v1');
    expect(daemonSet.kind).toBe('DaemonSet');
    expect(daemonSet.metadata.namespace).toBe('kube-system');
    const labels = daemonSet.spec.template.metadata.labels;
    expect(Object.keys(daemonSet.spec.selector.matchLabels).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(daemonSet.spec.selector.matchLabels)) expect(labels[k], k).toBe(v);
  });

  it("runs one `keel agent` in every node's own network, tolerating every taint", () => {
    expect(pod.containers).toHaveLength(1);
    expect(container.command).toEqual(['keel', 'agent']);
    expect(pod.hostNetwork).toBe(true);
    // Not ClusterFirst*: keel's upstreams come from its resolv.conf, which must not name keel itself.
    expect(pod.dnsPolicy).toBe('Default');
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    const caps = container.securityContext?.capabilities?.add ?? [];
    expect(container.securityContext?.privileged === true || (caps.includes('NET_ADMIN') && caps.includes('NET_RAW'))).toBe(true);
  });

  it('mounts a hostPath volume for every volumeMount, the etcd certificates read-only', () => {
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    for (const m of container.volumeMounts ?? []) expect(volumes.get(m.name)?.hostPath, m.name).toBeDefined();
    const mounted = new Map((container.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    for (const path of [
      '/etc/kubernetes/pki/etcd/ca.crt',
      '/etc/kubernetes/pki/apiserver-etcd-client.crt',
      '/etc/kubernetes/pki/apiserver-etcd-client.key',
      '/lib/modules',
    ])
      expect(mounted.get(path)?.readOnly, path).toBe(true);
    for (const path of ['/run/flannel', '/etc/cni/net.d', '/run/xtables.lock']) expect(mounted.has(path), path).toBe(true);
    const xtables = (container.volumeMounts ?? []).find((m) => m.mountPath === '/run/xtables.lock');
    expect(volumes.get(xtables?.name ?? '')?.hostPath?.type).toBe('FileOrCreate');
  });

  it("sets only KEEL_* twins of `keel agent`'s flags, the etcd certificates among them at their mount paths", () => {
    const twins = new Set(agentCommand.options.map((o) => o.envVar));
    const env = container.env ?? [];
    for (const e of env) expect(twins.has(e.name), `${e.name} is no flag's twin`).toBe(true);
    const value = (name: string): string | undefined => env.find((e) => e.name === name)?.value;
    expect(value('KEEL_ENDPOINTS_SOURCE')).toBe('auto');
    // kubeadm's flannel is kube-subnet-mgr: keel keeps each node's spec.podCIDR.
    expect(value('KEEL_SUBNET_SOURCE')).toBe('node');
    expect(value('KEEL_ETCD_ENDPOINTS')).toMatch(/^https:\/\//);
    const mounts = new Set((container.volumeMounts ?? []).map((m) => m.mountPath));
    for (const name of ['KEEL_ETCD_CAFILE', 'KEEL_ETCD_CERTFILE', 'KEEL_ETCD_KEYFILE'])
      expect(mounts.has(value(name) ?? ''), name).toBe(true);
    expect(value('KEEL_SUBNET_FILE')?.startsWith('/run/flannel/')).toBe(true);
  });

  it("probes liveness on kube-proxy's /livez at the agent's --healthz-bind-address port", () => {
    const probe = container.livenessProbe?.httpGet;
    expect(['/livez', '/healthz']).toContain(probe?.path);
    const port = Number(/:(\d+)$/.exec(String(agentDefault('--healthz-bind-address')))?.[1]);
    expect(port).toBe(10256);
    expect(probe?.port).toBe(port);
  });
});

/** `[Section]` → key → values, as systemd reads a unit (keys may repeat). */
function unitKeys(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

describe('deploy/keel-agent.service', () => {
  const unit = unitKeys(unitText);
  const service = unit.get('Service') ?? new Map<string, string[]>();
  const work = mkdtempSync(join(tmpdir(), 'keel-deploy-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('runs `keel agent` from the EnvironmentFile the doc tells users to write, restarting always', () => {
    const exec = service.get('ExecStart')?.[0] ?? '';
    expect(exec).toMatch(/^\/\S*\/keel agent$/);
    const envFile = service.get('EnvironmentFile')?.[0];
    expect(envFile).toBe('/etc/keel/agent.env');
    expect(doc).toContain(envFile);
    expect(service.get('Restart')).toEqual(['always']);
    expect(unit.get('Unit')?.get('After')).toContain('network-online.target');
    const caps = service.get('AmbientCapabilities')?.join(' ') ?? '';
    for (const cap of ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_NET_BIND_SERVICE']) expect(caps).toContain(cap);
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('passes systemd-analyze verify', (ctx) => {
    if (spawnSync('systemd-analyze', ['--version']).error) {
      console.warn('deploy/keel-agent.service: systemd-analyze is not installed here; only the key checks above ran');
      ctx.skip();
    }
    // verify insists ExecStart's binary exists: a stub stands in for the
    // installed keel, every other line is verified as written.
    const stub = join(work, 'keel');
    writeFileSync(stub, '#!/bin/sh\n');
    chmodSync(stub, 0o755);
    const copy = join(work, 'keel-agent.service');
    writeFileSync(copy, unitText.replace(/^ExecStart=\S+/m, `ExecStart=${stub}`));
    const res = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30_000 });
    expect({ status: res.status, stderr: res.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
