import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Takes the single-writer lock of a log directory (`<dir>/LOCK`, holding the writer's pid), so
 * two processes never append to one segment. A lock left by a process that no longer exists
 * (killed) is taken over; a live holder is an error naming its pid. Returns the release function.
 */
export async function acquireLogLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new Error(`event log ${dir} is open for writing by process ${pid} (${path}); open it read-only to read it`);
      }
      await rm(path, { force: true }); // stale: its writer is gone
    }
  }
  throw new Error(`could not take the lock ${path}`);
}
