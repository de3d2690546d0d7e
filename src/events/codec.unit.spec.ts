import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeEvent, encodeEvent, EventDecodeError, validateEvent } from './codec.js';
import { createEventFactory, seededPrng } from './factory.js';
import { dataSchemas, envelopeSchema } from './index.js';

const f = createEventFactory({ runId: 'run', source: 'w0', clock: () => 1, prng: seededPrng(3) });
const dv = f.make('DraftVerified', 2, { requestId: 'r1', drafter: 'model', k: 4, proposed: 3, accepted: 2, emitted: 3 });

const decodeErr = (raw: string, origin = { file: 'seg.log', offset: 123 }): EventDecodeError => {
  try {
    decodeEvent(raw, origin);
  } catch (e) {
    if (e instanceof EventDecodeError) return e;
    throw e;
  }
  throw new Error('expected an EventDecodeError');
};

describe('codec', () => {
  it('round-trips events of each type', () => {
    const events = [
      dv,
      f.make('RunStarted', 0, { config: { a: 1, nested: { b: [1, 2] } } }),
      f.make('RewardAssigned', 1, { requestId: 'r', promptId: 'p', groupIndex: 0, reward: 1, valid: true, components: { correct: 1 } }),
      f.make('AdvantagesComputed', 1, { promptId: 'p', advantages: [{ requestId: 'r', advantage: -0.5 }] }),
      f.make('WeightsPublished', 1, { model: 'policy', weightsVersion: 3, uri: 'file:///w/3' }),
    ];
    for (const e of events) expect(decodeEvent(encodeEvent(e), {})).toEqual(e);
    expect(decodeEvent(Buffer.from(encodeEvent(dv)), {})).toEqual(dv);
  });

  it('names the field, the event id and the file offset of an invalid event', () => {
    const bad = { ...dv, data: { ...dv.data, accepted: 4 } };
    const e = decodeErr(JSON.stringify(bad));
    expect(e.path).toBe('data.accepted');
    expect(e.eventId).toBe(dv.id);
    expect(e.message).toContain(`event ${dv.id} (DraftVerified) from file seg.log at byte 123`);
    expect(e.message).toContain('accepted must be ≤ proposed');

    const wrongType = decodeErr(JSON.stringify({ ...dv, data: { ...dv.data, k: '4' } }), { topic: 't', partition: 2, offset: '77' } as never);
    expect(wrongType.path).toBe('data.k');
    expect(wrongType.message).toContain('topic t partition 2 offset 77');
    expect(wrongType.message).toContain('received "4"');

    const env = decodeErr(JSON.stringify({ ...dv, step: -1 }));
    expect(env.path).toBe('step');
    expect(env.message).toContain('received -1');
  });

  it('reports unreadable JSON, unknown types and versions from the future', () => {
    expect(decodeErr('{"id": "x", ').message).toMatch(/cannot decode event \(id unreadable\) from file seg.log at byte 123: invalid JSON/);
    const unknown = decodeErr(JSON.stringify({ ...dv, type: 'DraftRejected' }));
    expect(unknown.path).toBe('type');
    expect(unknown.message).toContain('unknown event type "DraftRejected"');
    const future = decodeErr(JSON.stringify({ ...dv, version: 9 }));
    expect(future.path).toBe('version');
    expect(future.message).toContain('newer than this specstream understands');
  });

  it('upcasts a v1 RewardAssigned (no components) to v2', () => {
    const v1 = { ...dv, type: 'RewardAssigned', version: 1, data: { requestId: 'r', promptId: 'p', groupIndex: 1, reward: 0.5, valid: true } };
    const e = decodeEvent(JSON.stringify(v1), {});
    expect(e.version).toBe(2);
    expect(e.data).toEqual({ requestId: 'r', promptId: 'p', groupIndex: 1, reward: 0.5, valid: true, components: {} });
  });

  it('drops unknown keys and keeps the fast path equal to the zod schemas (property)', () => {
    const num = fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constant(1.5), fc.constant(Number.NaN), fc.constant('3' as unknown as number));
    const str = fc.oneof(fc.constant(''), fc.constant('x'), fc.constant(5 as unknown as string));
    fc.assert(
      fc.property(
        fc.record({ requestId: str, drafter: str, k: num, proposed: num, accepted: num, emitted: num, extra: fc.constant(1) }),
        fc.record({ step: num, seq: num, time: fc.oneof(fc.constant(5), fc.constant(-1), fc.constant(Infinity)), id: str }),
        (data, env) => {
          const raw = { ...dv, ...env, data };
          const zodOk = envelopeSchema.safeParse(raw).success && dataSchemas.DraftVerified.safeParse(data).success;
          let ok = true;
          try {
            const e = validateEvent(raw, {});
            expect(e.data).toEqual(dataSchemas.DraftVerified.parse(data));
            expect('extra' in e.data).toBe(false);
          } catch (err) {
            if (!(err instanceof EventDecodeError)) throw err;
            ok = false;
          }
          expect(ok).toBe(zodOk);
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });
});
