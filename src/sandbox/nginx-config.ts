/**
 * An nginx configuration for one sandbox container: everything nginx
 * writes (pid file, temp files) stays in the container's directory, logs
 * go to the pod's log, and it serves `html/index.html` (the pod's name)
 * on each port, IPv4 and IPv6 (as Debian's default site). One process (`master_process off`): the pod's PID is
 * nginx itself, so stopping or killing the pod by PID leaves no worker
 * behind. Never reads /etc/nginx or the host's sites.
 */
export function renderNginxConfig(options: { dir: string; ports: readonly number[]; pod: string }): string {
  const { dir } = options;
  const listen = (options.ports.length ? options.ports : [80]).map((p) => `    listen ${p};\n    listen [::]:${p};\n`).join('');
  return [
    `# keel sandbox: nginx for pod ${options.pod}, in the pod's network namespace.`,
    'daemon off;',
    'master_process off;',
    `pid ${dir}/nginx.pid;`,
    'error_log stderr notice;',
    'events {',
    '  worker_connections 512;',
    '}',
    'http {',
    '  access_log /dev/stdout;',
    `  client_body_temp_path ${dir}/client_body_temp;`,
    `  proxy_temp_path ${dir}/proxy_temp;`,
    `  fastcgi_temp_path ${dir}/fastcgi_temp;`,
    `  uwsgi_temp_path ${dir}/uwsgi_temp;`,
    `  scgi_temp_path ${dir}/scgi_temp;`,
    '  types {}',
    '  default_type text/plain;',
    '  server {',
    `${listen}    root ${dir}/html;`,
    '    index index.html;',
    '  }',
    '}',
    '',
  ].join('\n');
}
