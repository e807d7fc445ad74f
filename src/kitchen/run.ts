/** Running and resuming a recipe. */
import { randomUUID } from "node:crypto"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { Deferred, Effect, Layer } from "effect"
import {
  BlobStore as BlobStoreTag,
  type CheckpointManifest,
  MetricsSink,
  ResumeRefusedError,
  type RunEvent,
  StartingWeights,
  TrainingClient
} from "../ports/index.js"
import { CheckpointAttempt, committedNames, decodeDurableRunState, newestCheckpoint, restoreCheckpoint, retainAndIndex } from "../stages/index.js"
import { compileRecipe, recipeRendererId } from "../recipes/compile-recipe.js"
import { recipeHash, resolvedRecipeJson } from "../recipes/recipe-hash.js"
import { isChatRecipe, type Recipe } from "../recipes/recipe.js"
import { runWorkflow, type WorkflowResult } from "../workflows/index.js"
import { checkAdapters, checkRecipe } from "./checks.js"
import { resolveHfModel } from "./hf-model-source.js"
import { kitchenLayer } from "./layers.js"
import { withOtlpMetrics, withRecipeTelemetry } from "./otlp-telemetry.js"
import type { CommittedCheckpoint, KitchenOptions } from "./options.js"
import { prepareRunDirectory, refuseRunOutputs } from "./run-directory.js"
import { checkpointStoreLayer, recipeTokenizer } from "./sources.js"

/**
 * What a kitchen run resolves with: the runner's result (final step and state) or, for a run
 * its `afterCheckpoint` stopped, that checkpoint in `stoppedAfter`, its step in `step` and an
 * empty `state` (the run was interrupted there; the checkpoint holds the state).
 */
export interface KitchenResult extends WorkflowResult {
  readonly stoppedAfter?: CommittedCheckpoint
}

/**
 * The recipe as the kitchen's layers see it: with `options.checkpointStore`, a recipe that
 * names no `checkpoint.uri` gets that one. Only the layers see it; the recipe hash, the
 * compiled workflow and the resume checks use the recipe itself.
 */
const layersRecipe = (recipe: Recipe, options: KitchenOptions): Recipe =>
  options.checkpointStore === undefined || recipe.checkpoint.uri !== undefined
    ? recipe
    : { ...recipe, checkpoint: { ...recipe.checkpoint, uri: options.checkpointStore } }

/** The checkpoint an event announces, when it is a committed one that is not `final`. */
const committedCheckpoint = (event: RunEvent): CommittedCheckpoint | undefined => {
  const name = event.data?.["name"]
  return event.name === "checkpoint" && typeof name === "string" && name !== "final" ? { name, step: event.step } : undefined
}

/**
 * Runs the workflow as a segment when `options` ask for it: its checkpoints tagged with the
 * attempt id and, with `afterCheckpoint`, held after each commit until it answers. The
 * checkpoint stage sends its `checkpoint` event once the commit, retention and index are
 * done; the sink below writes that event, then asks. On `stop` it holds the run there while
 * the race interrupts it, so no stage after the checkpoint starts (the summary, a finalizer,
 * is still written). Without these options the workflow runs as it always did.
 */
const asSegment = <E, R>(
  options: KitchenOptions,
  run: Effect.Effect<WorkflowResult, E, R>
): Effect.Effect<KitchenResult, E, R | MetricsSink> => {
  const tagged = options.attemptId === undefined ? run : Effect.provideService(run, CheckpointAttempt, options.attemptId)
  const afterCheckpoint = options.afterCheckpoint
  if (afterCheckpoint === undefined) return tagged
  return Effect.gen(function*() {
    const sink = yield* MetricsSink
    const stopped = yield* Deferred.make<CommittedCheckpoint>()
    const holding = MetricsSink.of({
      ...sink,
      event: (event) => {
        const committed = committedCheckpoint(event)
        if (committed === undefined) return sink.event(event)
        // The checkpoint is committed whether or not its event could be written.
        return Effect.exit(sink.event(event)).pipe(
          Effect.andThen(afterCheckpoint(committed)),
          Effect.flatMap((answer) =>
            answer === "continue" ? Effect.void : Effect.andThen(Deferred.succeed(stopped, committed), Effect.never)
          )
        )
      }
    })
    return yield* Effect.raceFirst(
      Effect.provideService(tagged, MetricsSink, holding),
      Effect.map(Deferred.await(stopped), (stoppedAfter): KitchenResult => ({ step: stoppedAfter.step, state: {}, stoppedAfter }))
    )
  })
}

/**
 * Makes the run directory ready for a new run, after the checks: prepared as `newRun` asks,
 * or refused when it holds another run's outputs. A run resumed from step 0 (`resumeAfter`)
 * continues its own files.
 */
const claimRunDirectory = (options: KitchenOptions) => {
  const { newRun, runDir } = options
  if (newRun !== undefined) return prepareRunDirectory(runDir, newRun.resolvedRecipe, newRun.overwrite, newRun.files)
  return options.resumeAfter === undefined ? refuseRunOutputs(runDir) : Effect.void
}

// A new run, traced: `runRecipe` without the recipe's telemetry, which its caller provides.
// An `hf://` model is downloaded first (`resolveHfModel`): the local recipe runs, the pinned
// one is hashed and recorded in recipe.json, so resuming from it reads the same commit.
const runTraced = Effect.fn("sous.runRecipe")(function*(written: Recipe, options: KitchenOptions) {
  const { local: recipe, pinned } = yield* resolveHfModel(written, options.source ?? "recipe")
  yield* checkRecipe(recipe, options.source ?? "recipe", options)
  const { newRun } = options
  yield* claimRunDirectory(newRun === undefined || pinned === written ? options : { ...options, newRun: { ...newRun, resolvedRecipe: resolvedRecipeJson(pinned) } })
  const runId = randomUUID()
  yield* Effect.annotateCurrentSpan("sous.run.id", runId)
  const compiled = compileRecipe(recipe, { runId, recipeHash: recipeHash(pinned), startedAt: Date.now() }, options)
  const tokenizer = yield* recipeTokenizer(recipe)
  const ports = Layer.provideMerge(compiled.clientLayer, kitchenLayer(layersRecipe(recipe, options), options, tokenizer))
  return yield* Effect.gen(function*() {
    if (isChatRecipe(recipe) && recipe.model.from !== undefined) yield* loadStartingWeights
    return yield* asSegment(options, runWorkflow(compiled.workflow, { initialState: compiled.initialState }))
  }).pipe(withOtlpMetrics(runId), Effect.provide(ports))
})

/**
 * Compiles and runs a recipe to the end: the library entry point behind `sous run`.
 * Every check (`checkRecipe`: locations, adapters, sizes, data) passes before anything is
 * written, so a run that cannot start leaves no directory behind; a directory that holds
 * another run is refused untouched (see `KitchenOptions.newRun`). Resolves with the runner's
 * result (final step and state). Traced as `sous.runRecipe`, the root span of a run's trace
 * (with the run's id as `sous.run.id`), exported with the run's metrics to the recipe's otlp
 * tracker, if it names one (`withRecipeTelemetry`). A recipe written in code comes from the
 * typed constructors (`supervisedRecipe` and the others, from `sous`), which check it as
 * loading a file does.
 */
export const runRecipe = (recipe: Recipe, options: KitchenOptions) => withRecipeTelemetry(recipe, runTraced(recipe, options))

/** Loads the checkpoint `model.from` names into the new client: its weights, a fresh optimizer. */
const loadStartingWeights = Effect.gen(function*() {
  const start = yield* StartingWeights
  const client = yield* TrainingClient
  if (!("_tag" in start.source)) return
  yield* Effect.flatMap(client.loadState(start.source, { optimizer: false }), (pending) => pending.result)
  yield* Effect.logInfo(`starting from ${start.description}`)
})

/** A checkpoint that was written for another recipe, renderer or tokenizer than the one resuming. */
const mismatch = (manifest: CheckpointManifest, recipe: Recipe, rendererId: string, tokenizerId: string) => {
  // A changed `model.hf` revision shows in the hash of the recipe pinned to its commit.
  const differences = [
    manifest.recipeHash === recipeHash(recipe) ? undefined : `recipe hash ${manifest.recipeHash} (now ${recipeHash(recipe)})`,
    manifest.rendererId === rendererId ? undefined : `renderer ${manifest.rendererId} (now ${rendererId})`,
    manifest.tokenizerId === tokenizerId ? undefined : `tokenizer ${manifest.tokenizerId} (now ${tokenizerId})`
  ].filter((d) => d !== undefined)
  return differences.length === 0
    ? undefined
    : new ResumeRefusedError({
      checkpoint: manifest.name,
      message: `checkpoint ${manifest.name} was written with ${differences.join(", ")}; resume it with the recipe it was written for`
    })
}

/**
 * Whether a run finished: its final checkpoint is committed (`newest` names the newest
 * committed one), its summary written and its model published if the recipe asks for that.
 * Resuming it would redo the end of the run.
 */
const finished = (recipe: Recipe, runDir: string, newest: string) =>
  Effect.promise(async () => {
    if (newest !== "final" || !existsSync(join(runDir, "summary.json"))) return false
    if (!isChatRecipe(recipe) || recipe.publish === undefined) return true
    const events = await readFile(join(runDir, "events.jsonl"), "utf8").catch(() => "")
    return events.includes("\"name\":\"publish\"")
  })

/** Whether the run in `runDir` finished (see `finished`): a pipeline skips such a stage. */
export const runFinished = (recipe: Recipe, runDir: string) =>
  Effect.gen(function*() {
    const names = yield* committedNames(yield* BlobStoreTag)
    return names.includes("final") && (yield* finished(recipe, runDir, "final"))
  }).pipe(Effect.provide(checkpointStoreLayer(recipe, runDir)))

// A resumed run, traced: `resumeRecipe` without the recipe's telemetry.
const resumeTraced = Effect.fn("sous.resumeRecipe")(
  function*(written: Recipe, options: KitchenOptions & { readonly fallback: boolean }) {
    const { local: recipe, pinned } = yield* resolveHfModel(written, options.source ?? "recipe")
    yield* checkAdapters(recipe, options.source ?? "recipe", options)
    const checkpoint = yield* Effect.gen(function*() {
      const store = yield* BlobStoreTag
      const names = yield* committedNames(store)
      if (names.length === 0) {
        yield* Effect.logWarning(`${store.uri} holds no committed checkpoint yet: the run starts again from step 0`)
        return undefined
      }
      const verified = yield* newestCheckpoint({ fallback: options.fallback })
      const retention = { keepLast: recipe.checkpoint.keepLast, keepEvery: recipe.checkpoint.keepEvery }
      yield* retainAndIndex(store, verified.manifest.name, retention)
      return verified
    }).pipe(Effect.provide(checkpointStoreLayer(layersRecipe(recipe, options), options.runDir)))
    // Step -1: every metrics and events line of the dead run goes.
    if (checkpoint === undefined) return yield* runTraced(written, { ...options, resumeAfter: { step: -1 } })
    const { manifest } = checkpoint
    if (yield* finished(recipe, options.runDir, manifest.name)) {
      return yield* new ResumeRefusedError({
        checkpoint: manifest.name,
        message: `the run in ${options.runDir} finished at step ${manifest.step} (checkpoint final and summary.json are there): there is nothing to resume`
      })
    }
    const state = yield* decodeDurableRunState(manifest.name, manifest.resume.state)
    yield* Effect.annotateCurrentSpan({ "sous.run.id": state.runInfo.runId, "sous.resume.checkpoint": manifest.name })
    const compiled = compileRecipe(recipe, state.runInfo, options)
    const tokenizer = yield* recipeTokenizer(recipe)
    const problem = mismatch(manifest, pinned, recipeRendererId(recipe), tokenizer.id)
    if (problem !== undefined) return yield* problem
    const resumeAfter = { step: manifest.step, checkpoint: manifest.name }
    const ports = Layer.provideMerge(compiled.clientLayer, kitchenLayer(layersRecipe(recipe, options), { ...options, resumeAfter }, tokenizer))
    return yield* Effect.gen(function*() {
      yield* restoreCheckpoint(checkpoint)
      yield* (yield* MetricsSink).event({ name: "resume", step: manifest.step, data: { checkpoint: manifest.name } })
      return yield* asSegment(options, runWorkflow(compiled.workflow, {
        initialState: compiled.initialState,
        cursor: { position: manifest.resume.position, resume: "after", step: manifest.step, state }
      }))
    }).pipe(withOtlpMetrics(state.runInfo.runId), Effect.provide(ports))
  }
)

/**
 * Continues a run from the newest committed checkpoint in its store, so that the result
 * equals an uninterrupted run: the weights and optimizer state are restored, the data cursor
 * and summary come back from the manifest, the data stages run again, training goes on after
 * the checkpoint stage, and what the metrics files hold after the checkpoint is dropped
 * before new lines are written. Retention and the index are brought up to date first, for a
 * run that died right after a commit. A damaged newest checkpoint is an error unless
 * `fallback` allows an older one. A run that died before its first checkpoint starts again
 * from step 0, which gives the same result. A finished run, or a checkpoint written with
 * another recipe, renderer, tokenizer or data, is refused with a `ResumeRefusedError`.
 * Traced as `sous.resumeRecipe`, the root span of a resumed run's trace, exported like
 * `runRecipe`'s.
 */
export const resumeRecipe = (recipe: Recipe, options: KitchenOptions & { readonly fallback: boolean }) =>
  withRecipeTelemetry(recipe, resumeTraced(recipe, options))
