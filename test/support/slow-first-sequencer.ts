import { BaseSequencer, type TestSpecification } from "vitest/node"

/**
 * The slowest test files, longest first, with their seconds on the 2-core machine (CI on a
 * clean clone, 2026-12-07). With two workers and no timing cache (every CI run is a fresh
 * clone), vitest's own order started the 3-minute rl-arithmetic file last and one worker
 * idled for minutes at the end; starting the longest first leaves only short files for the
 * tail. A file missing here just runs after these, in vitest's order.
 */
const slowest: ReadonlyArray<readonly [string, number]> = [
  ["test/durable/durable-run.test.ts", 240],
  ["test/cli/rl-arithmetic.test.ts", 180],
  ["test/cli/tinker-conformance.test.ts", 160],
  ["test/cli/dpo-preferences.test.ts", 155],
  ["test/cli/resume.test.ts", 150],
  ["test/cli/distill-arithmetic.test.ts", 100],
  ["test/examples/loops.test.ts", 95],
  ["test/durable/pg-runs.test.ts", 90],
  ["test/durable/segment.test.ts", 80],
  ["test/cli/pack-install.test.ts", 60],
  ["test/cli/sft-arithmetic.test.ts", 55],
  ["test/architecture/readme-snippets.test.ts", 50],
  ["test/architecture/consumer-types.test.ts", 40],
  ["test/cli/cli-errors.test.ts", 50],
  ["test/cli/serve.test.ts", 50]
]

/** Runs {@link slowest} first, longest first, then the rest in vitest's own order. */
export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const sorted = await super.sort(files)
    const weight = (file: TestSpecification) => slowest.find(([path]) => file.moduleId.endsWith(path))?.[1] ?? 0
    return [...sorted].sort((a, b) => weight(b) - weight(a))
  }
}
