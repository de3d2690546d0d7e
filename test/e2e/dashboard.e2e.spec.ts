import { afterEach, describe, expect, it } from 'vitest';
import { Subject } from 'rxjs';
import type { Browser } from 'playwright-core';
import { launchChromium } from './browser.js';
import { startDashboard, type Dashboard, type MetricsRow } from '../../src/dashboard/server.js';

let browser: Browser | undefined;
let dashboard: Dashboard | undefined;
afterEach(async () => {
  await browser?.close();
  await dashboard?.close();
  browser = dashboard = undefined;
});

describe('dashboard in a real browser', () => {
  it('shows history, then live steps as they arrive, then the end of the run', async () => {
    const metrics$ = new Subject<MetricsRow>();
    dashboard = await startDashboard({ metrics$, title: 'test-run' });
    metrics$.next({ step: 1, 'reward/mean': 0.25, 'spec_decode/acceptance_rate': 0.5 });
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(dashboard.url);
    await page.waitForSelector('body[data-steps="1"]');
    expect(await page.title()).toBe('specstream — test-run');
    // one chart per metric, grouped by prefix
    expect(await page.locator('[data-group="reward"] [data-metric="reward/mean"] canvas').count()).toBe(1);
    expect(await page.locator('[data-group="spec_decode"] [data-metric="spec_decode/acceptance_rate"]').count()).toBe(1);

    metrics$.next({ step: 2, 'reward/mean': 0.75, 'spec_decode/acceptance_rate': 0.625, 'train/loss': -0.125 });
    await page.waitForSelector('body[data-steps="2"]');
    expect(await page.locator('#latest tr[data-metric="reward/mean"] td').nth(1).textContent()).toBe('0.75');
    expect(await page.locator('[data-metric="train/loss"] canvas').count()).toBe(1);

    metrics$.complete();
    await page.waitForSelector('body[data-done="true"]');
    expect(await page.locator('#status').textContent()).toBe('finished · 2 steps');
  });

  it('serves all rows as JSON and 404s unknown paths', async () => {
    const metrics$ = new Subject<MetricsRow>();
    dashboard = await startDashboard({ metrics$, title: 't' });
    metrics$.next({ step: 3, 'reward/mean': 1 });
    expect(await (await fetch(new URL('metrics.json', dashboard.url))).json()).toEqual([{ step: 3, 'reward/mean': 1 }]);
    expect((await fetch(new URL('nope', dashboard.url))).status).toBe(404);
  });
});

describe('specstream dashboard <log> (CLI, real browser)', () => {
  it('shows every step of a stored run with the values replay prints', async () => {
    const { execFile, spawn } = await import('node:child_process');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { promisify } = await import('node:util');
    const cli = join(process.cwd(), 'dist/cli/main.js');
    const dir = mkdtempSync(join(tmpdir(), 'specstream-dash-'));
    await promisify(execFile)('node', [cli, 'train', '--set', 'steps=2', '--set', `log.dir="${dir}"`, '--set', 'runId="d"']);
    const logDir = join(dir, 'd', 'events');
    const replay = (await promisify(execFile)('node', [cli, 'replay', logDir, '--format', 'json'])).stdout
      .trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    const child = spawn('node', [cli, 'dashboard', logDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let err = '';
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /(http:\/\/[^\s]+)/.exec(err);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`dashboard exited with ${code}: ${err}`)));
      });
      browser = await launchChromium();
      const page = await browser.newPage();
      await page.goto(url);
      await page.waitForSelector('body[data-steps="2"]');
      const shown = await page.locator('#latest tr[data-metric="reward/mean"] td').nth(1).textContent();
      expect(Number(shown)).toBeCloseTo(replay[1]!['reward/mean']!, 5);
      expect(await page.locator('[data-group="spec_decode"] canvas').count()).toBeGreaterThan(3);
    } finally {
      child.kill('SIGINT');
    }
  }, 60_000);
});
