/**
 * Runs a pipeline: its stages one after the other, each a run of its own in a directory
 * under the pipeline's, each after the first starting from the final checkpoint of the one
 * before it.
 */
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { checkAdapters } from "./checks.js"
import type { KitchenOptions } from "./options.js"
import { resumeRecipe, runFinished, runRecipe } from "./run.js"
import { linkedStageRecipe, type PipelineRecipe } from "../recipes/pipeline-recipe.js"
import type { Recipe } from "../recipes/recipe.js"
import { resolvedRecipeJson } from "../recipes/recipe-hash.js"
import { holdsRun } from "./run-directory.js"

/** Where a pipeline runs and who listens. */
export interface PipelineOptions extends Pick<KitchenOptions, "sinks"> {
  /** The pipeline's directory: its `recipe.json`, `summary.json` and one directory per stage. */
  readonly runDir: string
  /** Resuming a stage may fall back to an older checkpoint when the newest is damaged. */
  readonly fallback?: boolean
}

/** The run directory of a pipeline's stage. */
export const stageRunDir = (runDir: string, stageName: string): string => join(runDir, stageName)

/** The checkpoint store a stage's run writes to, where the next stage starts from. */
const stageStore = (recipe: Recipe, dir: string): string => recipe.checkpoint.uri ?? join(dir, "checkpoints")

const readSummary = (dir: string) =>
  Effect.promise(() => readFile(join(dir, "summary.json"), "utf8").then((text) => JSON.parse(text) as unknown, () => null))

/**
 * Runs every stage of a pipeline in order, or continues one that was interrupted: a stage
 * that finished is skipped, one that started is resumed from its newest checkpoint, and the
 * rest run afresh. Each stage runs in `<runDir>/<name>` as a run of its own (its resolved
 * recipe, with `model.from` pointing at the previous stage's final checkpoint, in its
 * `recipe.json`). Writes `<runDir>/summary.json` with every stage's summary at the end, and
 * answers the number of optimizer steps of each stage.
 */
export const runPipeline = Effect.fn("sous.runPipeline")(
  function*(pipeline: PipelineRecipe, options: PipelineOptions) {
    let previousStore: string | undefined
    const stages: Array<{ readonly name: string; readonly kind: string; readonly steps: number }> = []
    for (const [index, stage] of pipeline.stages.entries()) {
      const dir = stageRunDir(options.runDir, stage.name)
      const recipe = linkedStageRecipe(stage, previousStore)
      previousStore = stageStore(recipe, dir)
      yield* checkAdapters(recipe, `stage ${stage.name}`)
      const label = `pipeline stage ${index + 1}/${pipeline.stages.length} (${stage.name}, ${recipe.kind})`
      const started = yield* holdsRun(dir)
      if (started && (yield* runFinished(recipe, dir))) {
        yield* Effect.logInfo(`${label} finished before; skipped`)
        const summary = yield* readSummary(dir)
        const steps = typeof summary === "object" && summary !== null && "steps" in summary ? Number(summary.steps) : 0
        stages.push({ name: stage.name, kind: recipe.kind, steps })
        continue
      }
      yield* Effect.logInfo(`${label} ${started ? "resumes" : "starts"} in ${dir}`)
      const kitchen = { runDir: dir, source: `stage ${stage.name}`, ...(options.sinks === undefined ? {} : { sinks: options.sinks }) }
      const result = started
        ? yield* resumeRecipe(recipe, { ...kitchen, fallback: options.fallback ?? false })
        : yield* runRecipe(recipe, { ...kitchen, newRun: { resolvedRecipe: resolvedRecipeJson(recipe), overwrite: false } })
      stages.push({ name: stage.name, kind: recipe.kind, steps: result.step })
    }
    const summaries = yield* Effect.forEach(stages, (stage) =>
      Effect.map(readSummary(stageRunDir(options.runDir, stage.name)), (summary) => ({ ...stage, summary })))
    yield* Effect.promise(() => writeFile(join(options.runDir, "summary.json"), `${JSON.stringify({ pipeline: pipeline.name, stages: summaries }, null, 2)}\n`))
    return stages
  }
)
