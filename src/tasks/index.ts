import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { Task } from './Task.js';
import { copyTask } from './copy.js';
import { sortTask } from './sort.js';

export type { Task, TaskPrompt, RewardResult } from './Task.js';

export const builtinTasks: Readonly<Record<string, Task>> = { copy: copyTask, sort: sortTask };

/**
 * Resolves a task by built-in name, or loads a user task from an ES module path (its default
 * export or its `task` export must satisfy `Task`).
 */
export async function loadTask(nameOrPath: string): Promise<Task> {
  const builtin = builtinTasks[nameOrPath];
  if (builtin) return builtin;
  if (!nameOrPath.includes('/') && !nameOrPath.endsWith('.js')) {
    throw new Error(`unknown task "${nameOrPath}"; built-in tasks: ${Object.keys(builtinTasks).join(', ')}, or a path to an ES module`);
  }
  const mod = (await import(pathToFileURL(resolve(nameOrPath)).href)) as Record<string, unknown>;
  const task = (mod['default'] ?? mod['task']) as Partial<Task> | undefined;
  if (!task || typeof task.prompts !== 'function' || typeof task.reward !== 'function' || typeof task.name !== 'string') {
    throw new Error(`task module ${nameOrPath} must export (default or "task") an object with name, prompts() and reward()`);
  }
  return task as Task;
}
