import { defineConfig } from "vitest/config"
import { SlowFirstSequencer } from "./test/support/slow-first-sequencer.js"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // TensorFlow.js work is CPU-bound; two workers match the 2-core machines we target.
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Servers, retries and injected faults log a lot by design; their lines are shown only
    // for a test that fails, where they explain it.
    silent: "passed-only"
  }
})
