/**
 * keel's error family. Every error names the object it concerns (its
 * `subject`, e.g. `service default/web`) so one line in a log or on a
 * terminal says what is wrong and where; `code` is stable for callers.
 */
export type ErrorCode =
  | 'KEEL_INVALID_OBJECT'
  | 'KEEL_UNSUPPORTED_KIND'
  | 'KEEL_DECODE_FAILED'
  | 'KEEL_ALREADY_EXISTS'
  | 'KEEL_CONFLICT'
  | 'KEEL_NOT_FOUND'
  | 'KEEL_ALLOCATION_FAILED'
  | 'KEEL_ETCD_UNAVAILABLE'
  | 'KEEL_ETCD_FAILED'
  | 'KEEL_RESTORE_FAILED'
  | 'KEEL_NFT_FAILED'
  | 'KEEL_NETLINK_FAILED'
  | 'KEEL_USAGE'
  | 'KEEL_CONFIG'
  | 'KEEL_NATIVE_UNAVAILABLE';

export interface KeelErrorOptions {
  subject?: string;
  cause?: unknown;
}

export class KeelError extends Error {
  override name = 'KeelError';
  readonly code: ErrorCode;
  readonly subject: string | undefined;

  constructor(code: ErrorCode, message: string, options: KeelErrorOptions = {}) {
    super(options.subject ? `${options.subject}: ${message}` : message, { cause: options.cause });
    this.code = code;
    this.subject = options.subject;
  }
}

/** A field of an object is wrong; `field` is a JSON path such as `spec.ports[1].port`. */
export class ValidationError extends KeelError {
  override name = 'ValidationError' as const;
  readonly field: string;
  readonly reason: string;

  constructor(subject: string, field: string, reason: string) {
    super('KEEL_INVALID_OBJECT', field ? `${field}: ${reason}` : reason, { subject });
    this.field = field;
    this.reason = reason;
  }
}

export class UnsupportedKindError extends KeelError {
  override name = 'UnsupportedKindError' as const;
  constructor(subject: string, kind: string) {
    super('KEEL_UNSUPPORTED_KIND', `kind "${kind}" is not served by keel (it serves Service, Endpoints, Pod, EndpointSlice, Node)`, {
      subject,
    });
  }
}

export class DecodeError extends KeelError {
  override name = 'DecodeError' as const;
  constructor(subject: string, message: string, cause?: unknown) {
    super('KEEL_DECODE_FAILED', message, { subject, cause });
  }
}

/** A write lost a race: the key appeared (create) or moved on (update). */
export class ConflictError extends KeelError {
  override name = 'ConflictError' as const;
  constructor(subject: string, message = 'the object was modified concurrently; try again') {
    super('KEEL_CONFLICT', message, { subject });
  }
}

export class NotFoundError extends KeelError {
  override name = 'NotFoundError' as const;
  constructor(subject: string) {
    super('KEEL_NOT_FOUND', 'not found', { subject });
  }
}

export class AllocationError extends KeelError {
  override name = 'AllocationError' as const;
  constructor(subject: string, message: string) {
    super('KEEL_ALLOCATION_FAILED', message, { subject });
  }
}

export class EtcdUnavailableError extends KeelError {
  override name = 'EtcdUnavailableError' as const;
  constructor(endpoints: readonly string[], cause?: unknown) {
    super('KEEL_ETCD_UNAVAILABLE', `cannot reach etcd at ${endpoints.join(', ')}${describeCause(cause)}`, { cause });
  }
}

/** etcd answered but refused the request (a bad lease, a compacted revision, a size limit). */
export class EtcdRequestError extends KeelError {
  override name = 'EtcdRequestError' as const;
  constructor(request: string, message: string, cause?: unknown) {
    super('KEEL_ETCD_FAILED', message, { subject: `etcd ${request}`, cause });
  }
}

export class UsageError extends KeelError {
  override name = 'UsageError' as const;
  constructor(message: string) {
    super('KEEL_USAGE', message);
  }
}

export class ConfigError extends KeelError {
  override name = 'ConfigError' as const;
  constructor(subject: string, message: string) {
    super('KEEL_CONFIG', message, { subject });
  }
}

export function isKeelError(err: unknown, code?: ErrorCode): err is KeelError {
  return err instanceof KeelError && (code === undefined || err.code === code);
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error && cause.message) return ` (${(cause.message.split('\n')[0] ?? '').replace(/\.? ?Resolution note:.*$/, '')})`;
  return '';
}
