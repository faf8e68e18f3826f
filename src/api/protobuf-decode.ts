import protobuf from 'protobufjs/minimal.js';
import { DecodeError, UnsupportedKindError } from './errors.js';
import { MESSAGES, STORED_KINDS, type FieldSpec, type Fields } from './protobuf-schema.js';

/** kube-apiserver's storage prefix for protobuf values (k8s.io/apimachinery's protobuf serializer). */
const MAGIC = Buffer.from('k8s\0', 'latin1');

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;

/** Whether a stored value is in kube-apiserver's protobuf encoding rather than JSON. */
export function isProtobufValue(value: Uint8Array): boolean {
  return value.length >= MAGIC.length && MAGIC.equals(value.subarray(0, MAGIC.length));
}

/**
 * Decodes a protobuf value as kube-apiserver stores it — `k8s\0`, then a
 * runtime.Unknown whose typeMeta names the kind and whose raw bytes are the
 * object — into the same plain value a JSON object parses to, apiVersion and
 * kind included, so one validator serves both encodings. Only fields keel
 * uses are read; the rest are skipped.
 */
export function decodeProtobufObject(subject: string, value: Uint8Array): Record<string, unknown> {
  if (!isProtobufValue(value)) throw new DecodeError(subject, 'not a protobuf value: it does not start with "k8s\\0"');
  const envelope = decodeOrThrow(subject, 'runtime.Unknown envelope', 'Unknown', value.subarray(MAGIC.length));
  const typeMeta = (envelope.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const apiVersion = typeMeta.apiVersion ?? '';
  const kind = typeMeta.kind ?? '';
  if (envelope.contentEncoding)
    throw new DecodeError(subject, `content encoding ${JSON.stringify(envelope.contentEncoding)} is not supported`);
  if (envelope.contentType && envelope.contentType !== 'application/vnd.kubernetes.protobuf') {
    throw new DecodeError(subject, `content type ${JSON.stringify(envelope.contentType)} is not protobuf`);
  }
  const message = (STORED_KINDS as Record<string, keyof typeof MESSAGES>)[`${apiVersion}/${kind}`];
  if (!message) throw new UnsupportedKindError(subject, kind ? `${apiVersion}/${kind}` : '<none>');
  const raw = envelope.raw instanceof Uint8Array ? envelope.raw : new Uint8Array();
  return { apiVersion, kind, ...decodeOrThrow(subject, `${apiVersion} ${kind}`, message, raw) };
}

function decodeOrThrow(subject: string, what: string, message: string, bytes: Uint8Array): Record<string, unknown> {
  try {
    return decodeMessage(message, protobuf.Reader.create(bytes), bytes.length);
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    // protobufjs throws RangeError (index out of range) on a truncated value, Error on a bad wire type.
    throw new DecodeError(subject, `malformed protobuf ${what}: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

function decodeMessage(message: string, reader: protobuf.Reader, end: number): Record<string, unknown> {
  const fields = (MESSAGES as Record<string, Fields>)[message];
  if (!fields) throw new Error(`no schema for message ${message}`);
  const out: Record<string, unknown> = {};
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = fields[tag >>> 3];
    const wireType = tag & 7;
    if (!field) {
      reader.skipType(wireType);
      continue;
    }
    const expected = field.type === 'bool' || field.type === 'int32' || field.type === 'int64' ? WIRE_VARINT : WIRE_LENGTH_DELIMITED;
    if (wireType !== expected)
      throw new Error(`${message}.${field.name} (field ${tag >>> 3}) has wire type ${wireType}, expected ${expected}`);
    const value = readField(field, reader);
    if (field.type === 'MapEntry') {
      const entry = value as { key?: string; value?: string };
      const held = (out[field.name] ?? {}) as Record<string, string>;
      held[entry.key ?? ''] = entry.value ?? '';
      out[field.name] = held;
    } else if (field.repeated) {
      ((out[field.name] ??= []) as unknown[]).push(value);
    } else {
      out[field.name] = value;
    }
  }
  if (reader.pos > end) throw new RangeError(`${message} overruns its length`);
  return out;
}

function readField(field: FieldSpec, reader: protobuf.Reader): unknown {
  switch (field.type) {
    case 'string':
      return reader.string();
    case 'bytes':
      return reader.bytes();
    case 'bool':
      return reader.bool();
    case 'int32':
      return reader.int32();
    case 'int64':
      return toNumber(reader.int64() as unknown);
    default: {
      const len = reader.uint32();
      const end = reader.pos + len;
      if (end > reader.len) throw new RangeError(`${field.name} is truncated`);
      const decoded = decodeMessage(field.type, reader, end);
      return JSON_FORMS[field.type]?.(decoded) ?? decoded;
    }
  }
}

/** Messages JSON spells differently: IntOrString as a number or a string, Time as RFC 3339. */
const JSON_FORMS: Record<string, (m: Record<string, unknown>) => unknown> = {
  IntOrString: (m) => (m.type === 1 ? (m.strVal ?? '') : (m.intVal ?? 0)),
  Time: (m) => new Date(Number(m.seconds ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
};

/** protobufjs gives a number, or a Long when the long package is installed. */
function toNumber(v: unknown): number {
  return typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber();
}
