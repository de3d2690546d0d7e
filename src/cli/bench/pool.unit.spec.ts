import { describe, expect, it } from 'vitest';
import { formatPool, parseSpecResult, poolPaired, type SpecResult } from './pool.js';
import { medianInterval } from './stats.js';

const config = { layers: 8, hidden: 512, vocab: 4096, tokens: 128, temperature: 0, kFixed: 4 };
const result = (rows: SpecResult['rows'], over: Partial<SpecResult> = {}): SpecResult => ({ device: 'webgpu', fused: true, config, ...over, rows });

describe('poolPaired', () => {
  const a = result([
    { batch: 8, drafter: 'plain', k: '0' }, // no paired ratios: left out
    { batch: 8, drafter: 'model', k: 'auto', pairedRatios: [0.9, 1.1, 1.0] },
    { batch: 1, drafter: 'plain', k: 'A/A', pairedRatios: [1.0, 0.95] },
  ]);
  const b = result([
    { batch: 8, drafter: 'model', k: 'auto', pairedRatios: [0.96, 1.04, 0.92, 1.2] },
    { batch: 64, drafter: 'reuse', k: 'warm', pairedRatios: [1.01] },
  ]);

  it('pools each row over the runs that have it: median and interval of all the ratios, each run’s own median', () => {
    const rows = poolPaired([{ file: 'a.json', result: a }, { file: 'b.json', result: b }]);
    expect(rows.map((r) => `${r.batch} ${r.drafter} ${r.k}`)).toEqual(['1 plain A/A', '8 model auto', '64 reuse warm']);
    const auto = rows[1]!;
    const all = [0.9, 1.1, 1.0, 0.96, 1.04, 0.92, 1.2];
    expect(auto).toMatchObject({ runs: 2, n: 7, median: 1.0, min: 0.9, max: 1.2, runMedians: [1.0, 1.0] });
    expect(auto.interval).toEqual(medianInterval(all, 0.9));
    expect(rows[0]!).toMatchObject({ runs: 1, n: 2, median: 0.975 }); // even count: the mean of the middle two
    expect(formatPool(rows).split('\n')[2]).toMatch(/^8 +model +auto +2 +7 +1\.00 +0\.90–1\.20 \(98%\) +0\.90–1\.20 +1\.00 1\.00$/);
  });

  it('refuses to pool runs of another setup, naming the files and what differs', () => {
    const other = result(b.rows, { config: { ...config, tokens: 32 } });
    expect(() => poolPaired([{ file: 'a.json', result: a }, { file: 'c.json', result: other }])).toThrow(/c\.json was measured on another setup than a\.json \(tokens 128 ≠ 32\)/);
    const cpu = result(b.rows, { device: 'cpu', fused: false });
    expect(() => poolPaired([{ file: 'a.json', result: a }, { file: 'd.json', result: cpu }])).toThrow(/device webgpu ≠ cpu; fused true ≠ false/);
    expect(() => poolPaired([])).toThrow(/no results to pool/);
  });

  it('pools runs that measured other fixed draft lengths: a fixed-k row pools with the rows of its k', () => {
    const k4 = result([{ batch: 1, drafter: 'model', k: '4', pairedRatios: [0.8, 0.9] }]);
    const k124 = result([
      { batch: 1, drafter: 'model', k: '1', pairedRatios: [0.95] },
      { batch: 1, drafter: 'model', k: '4', pairedRatios: [0.85] },
    ], { config: { ...config, kFixed: [1, 2, 4] } });
    const rows = poolPaired([{ file: 'k4.json', result: k4 }, { file: 'k124.json', result: k124 }]);
    expect(rows.map((r) => [r.k, r.runs, r.n, r.median])).toEqual([['4', 2, 3, 0.85], ['1', 1, 1, 0.95]]);
  });
});

describe('parseSpecResult', () => {
  it('names the file and the field that is wrong', () => {
    expect(() => parseSpecResult('{"device": "webgpu", "config": {}, "rows": [', 'torn.json')).toThrow(/torn\.json is not JSON/);
    expect(() => parseSpecResult('{"device": "webgpu", "config": {}}', 'x.json')).toThrow(/x\.json is not a bench spec result: rows: /);
    expect(() => parseSpecResult('{"device": "webgpu", "config": {}, "rows": [{"batch": 1, "drafter": "model", "k": "4", "pairedRatios": [1, -2]}]}', 'y.json')).toThrow(/y\.json .*rows\.0\.pairedRatios\.1/);
    const ok = result([{ batch: 1, drafter: 'model', k: 'auto', pairedRatios: [1.02] }]);
    expect(parseSpecResult(JSON.stringify(ok), 'ok.json').rows[0]!.pairedRatios).toEqual([1.02]);
  });
});
