#!/usr/bin/env node
import { followParent, relaunchWithSingleThreadedGc, wantsSingleThreadedGc } from './gcMode.js';
import { buildProgram } from './program.js';

const fail = (err: unknown) => {
  process.stderr.write(`specstream: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
};

if (wantsSingleThreadedGc(process.argv.slice(2), process.env, process.execArgv)) {
  // On a CPU: the same command in a Node with --single-threaded-gc (src/cli/gcMode.ts).
  relaunchWithSingleThreadedGc().then((code) => (process.exitCode = code), fail);
} else {
  followParent(process.env);
  buildProgram().parseAsync(process.argv).catch(fail);
}
