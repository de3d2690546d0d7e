import type { z } from 'zod';
import { currentVersion, dataSchemas, envelopeSchema, type EventType, type SpecstreamEvent } from './index.js';
import { EventDecodeError, type DecodeOrigin } from './decodeError.js';
import { upcastData } from './upcast.js';

type Rec = Record<string, unknown>;

const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Fast check of the envelope, with exactly the rules of `envelopeSchema`. */
function envelopeOk(o: Rec): boolean {
  return (
    isNonEmptyString(o['id']) &&
    isNonEmptyString(o['type']) &&
    isNat(o['version']) &&
    (o['version'] as number) > 0 &&
    isNonEmptyString(o['runId']) &&
    isNat(o['step']) &&
    isNonEmptyString(o['source']) &&
    isNat(o['seq']) &&
    typeof o['time'] === 'number' &&
    Number.isFinite(o['time']) &&
    (o['time'] as number) >= 0
  );
}

/**
 * Fast path for the hot event (millions per run): the rules of `speculationSchemas.DraftVerified`
 * written out, returning a fresh object with only the known keys (as zod would), or undefined
 * to fall back to zod for the error message.
 */
function draftVerifiedData(d: unknown): Rec | undefined {
  if (!isRec(d)) return undefined;
  const { requestId, drafter, k, proposed, accepted, emitted } = d;
  if (!isNonEmptyString(requestId) || !isNonEmptyString(drafter)) return undefined;
  if (!isNat(k) || !isNat(proposed) || !isNat(accepted) || !isNat(emitted)) return undefined;
  if (accepted > proposed || proposed > k) return undefined;
  return { requestId, drafter, k, proposed, accepted, emitted };
}

const preview = (v: unknown): string => {
  let s: string;
  try {
    s = v === undefined ? 'undefined' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

const valueAt = (root: unknown, path: readonly PropertyKey[]): unknown =>
  path.reduce<unknown>((v, k) => (isRec(v) || Array.isArray(v) ? (v as Rec)[k as string] : undefined), root);

/** Throws an EventDecodeError from the first zod issue, naming path, expected and received. */
function fail(error: z.ZodError, root: unknown, prefix: string, origin: DecodeOrigin, id?: string, type?: string): never {
  const issue = error.issues[0]!;
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  const received = valueAt(root, issue.path);
  throw new EventDecodeError(path, `${issue.message} (received ${preview(received)})`, origin, id, type);
}

/**
 * Validates a parsed JSON value as a specstream event and returns it at the current schema
 * version. Used on everything that enters the process (file log, Kafka).
 *
 * 1. Envelope: fast hand-written check; on failure, zod's `envelopeSchema` names the field.
 * 2. `type` must be known; `version` must be ≤ the current one (newer = written by a newer
 *    specstream), older versions are upcast (./upcast.ts).
 * 3. `data`: a fast path for `DraftVerified`, zod `dataSchemas[type]` for the others (which also
 *    applies defaults and drops unknown keys).
 * Errors are EventDecodeErrors naming field path, event id and origin.
 */
export function validateEvent(value: unknown, origin: DecodeOrigin): SpecstreamEvent {
  if (!isRec(value)) {
    throw new EventDecodeError('', `expected a JSON object, received ${preview(value)}`, origin);
  }
  const id = typeof value['id'] === 'string' ? value['id'] : undefined;
  const rawType = typeof value['type'] === 'string' ? value['type'] : undefined;
  if (!envelopeOk(value)) {
    const r = envelopeSchema.safeParse(value);
    if (!r.success) fail(r.error, value, '', origin, id, rawType);
  }
  const type = value['type'] as EventType;
  const current = currentVersion[type];
  if (current === undefined || !Object.hasOwn(currentVersion, type)) {
    throw new EventDecodeError('type', `unknown event type ${preview(type)}`, origin, id);
  }
  const version = value['version'] as number;
  if (version > current) {
    throw new EventDecodeError(
      'version',
      `${type} v${version} is newer than this specstream understands (v${current}); upgrade specstream`,
      origin,
      id,
      type,
    );
  }
  let data: unknown = value['data'];
  if (version < current) {
    if (!isRec(data)) throw new EventDecodeError('data', `expected an object, received ${preview(data)}`, origin, id, type);
    try {
      data = upcastData(type, version, current, data);
    } catch (err) {
      throw new EventDecodeError('version', (err as Error).message, origin, id, type);
    }
  }
  let checked = type === 'DraftVerified' ? draftVerifiedData(data) : undefined;
  if (checked === undefined) {
    const r = (dataSchemas[type] as z.ZodType).safeParse(data);
    if (!r.success) fail(r.error, data, 'data', origin, id, type);
    checked = r.data as Rec;
  }
  return {
    id: value['id'],
    type,
    version: current,
    runId: value['runId'],
    step: value['step'],
    source: value['source'],
    seq: value['seq'],
    time: value['time'],
    data: checked,
  } as SpecstreamEvent;
}
