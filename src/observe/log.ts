/**
 * Structured logs: one line per event, `level component object message
 * key=value…`, on stderr. Components get a child logger once and never
 * format their own prefixes.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(component: string): Logger;
}

export interface LogSink {
  write(line: string): void;
}

let threshold: Level = (process.env.KEEL_LOG_LEVEL as Level | undefined) ?? 'info';
let sink: LogSink = { write: (line) => process.stderr.write(`${line}\n`) };

export function setLogLevel(level: Level): void {
  threshold = level;
}

/** Tests capture lines here instead of reading stderr. */
export function setLogSink(s: LogSink): void {
  sink = s;
}

export function createLogger(component: string): Logger {
  const emit = (level: Level, msg: string, fields: Fields = {}): void => {
    if (ORDER[level] < ORDER[threshold]) return;
    const parts = [new Date().toISOString(), `level=${level}`, `component=${component}`];
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) parts.push(`${k}=${quote(String(v))}`);
    }
    parts.push(`msg=${quote(msg)}`);
    sink.write(parts.join(' '));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger(`${component}/${c}`),
  };
}

function quote(v: string): string {
  return /^[\w./:@,+-]+$/.test(v) ? v : JSON.stringify(v);
}
