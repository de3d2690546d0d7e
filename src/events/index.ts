import type { RunStarted, StepStarted, StepCompleted } from './run.js';
import type { RolloutRequested, RolloutCompleted, RewardAssigned, AdvantagesComputed } from './rollout.js';
import type { DraftVerified } from './speculation.js';
import type { PolicyUpdated, WeightsPublished } from './training.js';
import { runSchemas } from './run.js';
import { rolloutSchemas } from './rollout.js';
import { speculationSchemas } from './speculation.js';
import { trainingSchemas } from './training.js';

export * from './envelope.js';
export * from './run.js';
export * from './rollout.js';
export * from './speculation.js';
export * from './training.js';

/** Every event of the pipeline. Reducers switch on `type` and end in an exhaustive `never`. */
export type SpecstreamEvent =
  | RunStarted
  | StepStarted
  | RolloutRequested
  | DraftVerified
  | RolloutCompleted
  | RewardAssigned
  | AdvantagesComputed
  | PolicyUpdated
  | WeightsPublished
  | StepCompleted;

export type EventType = SpecstreamEvent['type'];
export type EventOf<T extends EventType> = Extract<SpecstreamEvent, { type: T }>;
export type DataOf<T extends EventType> = EventOf<T>['data'];

/** Runtime schemas of the current version of each event's `data`. */
export const dataSchemas = {
  ...runSchemas,
  ...rolloutSchemas,
  ...speculationSchemas,
  ...trainingSchemas,
} as const;

/** Current schema version of each event type; older versions are upcast on read. */
export const currentVersion: Readonly<Record<EventType, number>> = {
  RunStarted: 1,
  StepStarted: 1,
  RolloutRequested: 1,
  DraftVerified: 1,
  RolloutCompleted: 1,
  RewardAssigned: 2,
  AdvantagesComputed: 1,
  PolicyUpdated: 1,
  WeightsPublished: 1,
  StepCompleted: 1,
};

export const eventTypes = Object.keys(currentVersion) as EventType[];
