import { defineConfig } from 'vitest/config';

// Tiers by file name (STYLE.md): *.unit.spec.ts (no I/O), *.int.spec.ts (ONNX Runtime, Kafka,
// files), *.e2e.spec.ts (CLI, browser). The Kafka broker is started once for the whole run by
// test/globalSetup.ts when any Kafka test is selected.
export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
