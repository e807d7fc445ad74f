import { BaseSequencer, type TestSpecification } from "vitest/node"

/**
 * The slowest test files, longest first, with their seconds on the 2-core machine (a whole
 * suite run, 2026-12-07). With two workers and no timing cache (every CI run is a fresh
 * clone), vitest's own order once started a 3-minute file last and one worker idled for
 * minutes at the end; starting the longest first leaves only short files for the tail. A
 * file missing here just runs after these, in vitest's order. Update it when times change.
 */
const slowest: ReadonlyArray<readonly [string, number]> = [
  ["test/durable/durable-run.test.ts", 198],
  ["test/cli/tinker-conformance.test.ts", 152],
  ["test/cli/resume.test.ts", 132],
  ["test/durable/segment.test.ts", 70],
  ["test/durable/pg-runs.test.ts", 67],
  ["test/cli/rl-arithmetic.test.ts", 65],
  ["test/cli/serve.test.ts", 51],
  ["test/cli/distill-arithmetic.test.ts", 51],
  ["test/cli/dpo-preferences.test.ts", 50],
  ["test/cli/pack-install.test.ts", 49],
  ["test/examples/loops.test.ts", 37],
  ["test/cli/cli-errors.test.ts", 34],
  ["test/cli/remote-stores.test.ts", 28],
  ["test/cli/pipeline.test.ts", 28],
  ["test/cli/classify-digits.test.ts", 24],
  ["test/server/load.test.ts", 23],
  ["test/cli/validate-checks.test.ts", 23],
  ["test/cli/sft-arithmetic.test.ts", 23],
  ["test/adapters/local/classifiers.test.ts", 20],
  ["test/jobs/job-worker-kill.test.ts", 17]
]

/** Runs {@link slowest} first, longest first, then the rest in vitest's own order. */
export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const sorted = await super.sort(files)
    const weight = (file: TestSpecification) => slowest.find(([path]) => file.moduleId.endsWith(path))?.[1] ?? 0
    return [...sorted].sort((a, b) => weight(b) - weight(a))
  }
}
