import { basename, join } from 'node:path';
import { KeelError } from '../api/errors.js';
import type { Container } from '../api/pod.js';
import { renderNginxConfig } from './nginx-config.js';
import { standInFor, type StandInKind } from './stand-in.js';

/** What the sandbox runs for one container, decided before anything is started. */
export interface ContainerProgram {
  /** Named in `keel get pods -o wide` (the pod's containerStatuses[].imageID): `nginx`, `redis-server`, `guestbook`, `stand-in:http`, or the command's name. */
  program: string;
  argv: string[];
  /** Files to write before starting (absolute path → content): nginx's configuration and page. */
  files: Record<string, string>;
  /** Why a Debian program was not used; logged once when the pod starts. */
  fallback?: string;
}

export interface ProgramContext {
  pod: string;
  /** The container's own directory under the sandbox run directory (working directory, configuration, data, pid file). */
  dir: string;
  /** The container's environment: service variables, POD_*, its own env. */
  env: Readonly<Record<string, string>>;
  /** The TCP ports the container must listen on (declared, else the image's default). */
  ports: readonly number[];
  /** An installed program's absolute path, or undefined when it is not installed. */
  findProgram: (name: string) => string | undefined;
  /** keel's own programs, run with this Node: the stand-ins and the guestbook frontend. */
  node: string;
  standIn: string;
  guestbook: string;
}

/** Debian's program for an image's name, when Debian has one. */
function debianProgram(image: string | undefined): 'nginx' | 'redis-server' | undefined {
  const name = imageName(image);
  if (/redis/.test(name)) return 'redis-server';
  if (/nginx/.test(name)) return 'nginx';
  return undefined;
}

/** `kubeguide/guestbook-php-frontend:v1` → `guestbook-php-frontend`. */
function imageName(image: string | undefined): string {
  return (image ?? '').split('/').pop()?.split(':')[0]?.split('@')[0] ?? '';
}

/**
 * The container's own command; else Debian's program for its image when
 * installed (nginx, redis-server); else keel's guestbook frontend for
 * seed 000's PHP frontend; else the image's stand-in.
 */
export function planContainer(c: Container, ctx: ProgramContext): ContainerProgram {
  if (c.command?.length) return { program: basename(c.command[0] as string), argv: [...c.command, ...(c.args ?? [])], files: {} };
  const name = imageName(c.image);
  const debian = debianProgram(c.image);
  const path = debian && ctx.findProgram(debian);
  if (debian === 'nginx' && path) return nginx(path, ctx);
  if (debian === 'redis-server' && path) return redis(path, c, ctx);
  if (!debian && /guestbook|gb-frontend/.test(name))
    return { program: 'guestbook', argv: [ctx.node, ctx.guestbook, ...ctx.ports.flatMap((p) => ['--port', String(p)])], files: {} };
  const s = standInFor(c.image, ctx.ports.length > 0);
  const plan = standIn(s.kind, s.replicaOf, ctx);
  return debian
    ? {
        ...plan,
        fallback: `${debian} is not on the program path (apt-get install ${debian}, or keel up --program-path DIRS); running the ${s.kind} stand-in`,
      }
    : plan;
}

function standIn(kind: StandInKind, replicaOf: string | undefined, ctx: ProgramContext): ContainerProgram {
  return {
    program: `stand-in:${kind}`,
    argv: [
      ctx.node,
      ctx.standIn,
      kind,
      ...ctx.ports.flatMap((p) => ['--port', String(p)]),
      ...(replicaOf ? ['--replica-of', replicaOf] : []),
    ],
    files: {},
  };
}

/** Debian's nginx with its own prefix, configuration, pid file and temp directories; `-e stderr` keeps it off /var/log/nginx from the start. */
function nginx(path: string, ctx: ProgramContext): ContainerProgram {
  const conf = join(ctx.dir, 'nginx.conf');
  return {
    program: 'nginx',
    argv: [path, '-p', `${ctx.dir}/`, '-e', 'stderr', '-c', conf],
    files: {
      [conf]: renderNginxConfig({ dir: ctx.dir, ports: ctx.ports, pod: ctx.pod }),
      [join(ctx.dir, 'html', 'index.html')]: `${ctx.pod}\n`,
    },
  };
}

/**
 * redis-server without persistence, logging to the pod's log; a slave
 * image replicates from the master found as seed 000's run.sh finds it:
 * $REDIS_MASTER_SERVICE_HOST with GET_HOSTS_FROM=env, else the DNS name
 * `redis-master` (redis resolves it through the pod's resolv.conf).
 */
function redis(path: string, c: Container, ctx: ProgramContext): ContainerProgram {
  const port = ctx.ports[0] ?? 6379;
  const argv = [path, '--port', String(port), '--bind', '*', '-::*', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'];
  argv.push('--dir', ctx.dir, '--logfile', '', '--daemonize', 'no');
  if (/slave|replica/.test(imageName(c.image))) argv.push('--replicaof', redisMaster(ctx), '6379');
  return { program: 'redis-server', argv, files: {} };
}

function redisMaster(ctx: ProgramContext): string {
  if (ctx.env.GET_HOSTS_FROM !== 'env') return 'redis-master';
  const host = ctx.env.REDIS_MASTER_SERVICE_HOST;
  if (!host)
    throw new KeelError(
      'KEEL_CONFIG',
      'GET_HOSTS_FROM=env but REDIS_MASTER_SERVICE_HOST is not set (create the redis-master service first)',
      {
        subject: `pod ${ctx.pod}`,
      },
    );
  return host;
}
