import type { EventType } from './index.js';

/** Maps the `data` of version `v` of an event type to version `v + 1`. Pure. */
export type Upcaster = (data: Readonly<Record<string, unknown>>) => Record<string, unknown>;

/**
 * Upcasters per event type, keyed by the version they upgrade *from*. When a field is added to
 * an event's data: bump `currentVersion` in ./index.ts, add the field to the schema, and register
 * `upcasters[Type][oldVersion]` here so every stored log keeps replaying (test/fixtures/v1-log
 * is replayed by the tests to prove it).
 */
export const upcasters: Readonly<Partial<Record<EventType, Readonly<Record<number, Upcaster>>>>> = {
  RewardAssigned: {
    // v2 added `components`, the named parts of the reward; v1 rewards had none.
    1: (data) => ({ ...data, components: {} }),
  },
};

/**
 * Brings `data` of `type` from `version` up to `target`, applying one upcaster per version.
 * Returns the data unchanged when `version === target`. Throws naming the missing step when a
 * version has no upcaster (the caller wraps it with the event id and origin).
 */
export function upcastData(
  type: EventType,
  version: number,
  target: number,
  data: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  let d = data as Record<string, unknown>;
  for (let v = version; v < target; v++) {
    const up = upcasters[type]?.[v];
    if (!up) throw new Error(`no upcaster registered for ${type} v${v} → v${v + 1}`);
    d = up(d);
  }
  return d;
}
