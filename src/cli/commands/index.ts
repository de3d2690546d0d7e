import type { Command } from 'commander';
import { registerBench } from './bench.js';
import { registerTrain } from './train.js';
import { registerDashboard } from './dashboard.js';
import { registerWarmup } from './warmup.js';
import { registerReplay } from './replay.js';
import { registerLog } from './log.js';
import { registerTrainCheck } from './trainCheck.js';
import { registerGenerate } from './generate.js';
import { registerWorker } from './worker.js';
import './generateSpeculative.js'; // adds --draft/--drafter/--k/--stats to generate (generateModes)

/** Every sub-command registers itself on the program. Add one line per command file. */
export const commands: ReadonlyArray<(program: Command) => void> = [registerTrain, registerWarmup, registerDashboard, registerBench, registerReplay, registerLog, registerTrainCheck, registerGenerate, registerWorker];
