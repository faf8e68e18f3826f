import { describe, expect, it } from 'vitest';
import type { Container } from '../api/pod.js';
import { planContainer, type ProgramContext } from './container-program.js';

const installed: Record<string, string> = { nginx: '/usr/sbin/nginx', 'redis-server': '/usr/bin/redis-server' };

function ctx(mutate: (c: ProgramContext) => void = () => undefined): ProgramContext {
  const c: ProgramContext = {
    pod: 'web-1',
    dir: '/run/sbx/pods/default_web-1/web',
    env: {},
    ports: [80],
    findProgram: (name) => installed[name],
    node: '/usr/bin/node',
    standIn: '/keel/stand-in.js',
    guestbook: '/keel/guestbook-frontend.js',
  };
  mutate(c);
  return c;
}

const container = (image: string, mutate: (c: Container) => void = () => undefined): Container => {
  const c: Container = { name: 'c', image };
  mutate(c);
  return c;
};

describe('planContainer', () => {
  it("runs Debian's nginx with its own prefix, configuration and page under the container's directory", () => {
    const plan = planContainer(container('nginx:1.25'), ctx());
    expect(plan.program).toBe('nginx');
    expect(plan.argv).toEqual([
      '/usr/sbin/nginx',
      '-p',
      '/run/sbx/pods/default_web-1/web/',
      '-e',
      'stderr',
      '-c',
      '/run/sbx/pods/default_web-1/web/nginx.conf',
    ]);
    expect(plan.files['/run/sbx/pods/default_web-1/web/html/index.html']).toBe('web-1\n');
    const conf = plan.files['/run/sbx/pods/default_web-1/web/nginx.conf'] ?? '';
    expect(conf).toContain('master_process off;');
    expect(conf).toContain('pid /run/sbx/pods/default_web-1/web/nginx.pid;');
    expect(conf).toContain('    listen 80;\n    listen [::]:80;\n');
    expect(conf).not.toMatch(/\/etc\/nginx|\/var\/(log|lib)\/nginx|include/);
    expect(plan.fallback).toBeUndefined();
  });

  it('runs redis-server without persistence in the container directory', () => {
    const plan = planContainer(
      container('kubeguide/redis-master'),
      ctx((c) => (c.ports = [6379])),
    );
    expect(plan.program).toBe('redis-server');
    expect(plan.argv.join(' ')).toBe(
      '/usr/bin/redis-server --port 6379 --bind * -::* --protected-mode no --save  --appendonly no --dir /run/sbx/pods/default_web-1/web --logfile  --daemonize no',
    );
  });

  it('points a slave at $REDIS_MASTER_SERVICE_HOST with GET_HOSTS_FROM=env, else at the DNS name redis-master', () => {
    const slave = container('kubeguide/guestbook-redis-slave');
    const env = planContainer(
      slave,
      ctx((c) => (c.env = { GET_HOSTS_FROM: 'env', REDIS_MASTER_SERVICE_HOST: '10.96.0.12' })),
    );
    expect(env.argv.slice(-3)).toEqual(['--replicaof', '10.96.0.12', '6379']);
    expect(planContainer(slave, ctx()).argv.slice(-3)).toEqual(['--replicaof', 'redis-master', '6379']);
    expect(() =>
      planContainer(
        slave,
        ctx((c) => (c.env = { GET_HOSTS_FROM: 'env' })),
      ),
    ).toThrow('pod web-1: GET_HOSTS_FROM=env but REDIS_MASTER_SERVICE_HOST is not set');
  });

  it("falls back to the image's stand-in, saying why, when Debian's program is not installed", () => {
    const plan = planContainer(
      container('nginx'),
      ctx((c) => (c.findProgram = () => undefined)),
    );
    expect(plan.program).toBe('stand-in:http');
    expect(plan.argv).toEqual(['/usr/bin/node', '/keel/stand-in.js', 'http', '--port', '80']);
    expect(plan.fallback).toMatch(/^nginx is not on the program path \(apt-get install nginx/);
    const slave = planContainer(
      container('guestbook-redis-slave'),
      ctx((c) => {
        c.findProgram = () => undefined;
        c.ports = [6379];
      }),
    );
    expect(slave.argv.slice(2)).toEqual(['redis', '--port', '6379', '--replica-of', 'redis-master']);
  });

  it("runs keel's guestbook frontend for seed 000's PHP frontend, and stand-ins without a fallback note for other images", () => {
    expect(planContainer(container('kubeguide/guestbook-php-frontend'), ctx()).argv).toEqual([
      '/usr/bin/node',
      '/keel/guestbook-frontend.js',
      '--port',
      '80',
    ]);
    const httpd = planContainer(container('httpd'), ctx());
    expect([httpd.program, httpd.fallback]).toEqual(['stand-in:http', undefined]);
    expect(
      planContainer(
        container('busybox'),
        ctx((c) => (c.ports = [])),
      ).program,
    ).toBe('stand-in:pause');
  });

  it("runs the container's own command as given", () => {
    const plan = planContainer(
      container('nginx', (c) => {
        c.command = ['/usr/bin/socat', 'TCP-LISTEN:8080,fork'];
        c.args = ['SYSTEM:echo hi'];
      }),
      ctx(),
    );
    expect(plan).toEqual({ program: 'socat', argv: ['/usr/bin/socat', 'TCP-LISTEN:8080,fork', 'SYSTEM:echo hi'], files: {} });
  });
});
