import { Schema } from "effect"

/** One thing wrong with a recipe, at a dotted path (`optimizer.lr`). */
export const RecipeProblem = Schema.Struct({
  path: Schema.String,
  message: Schema.String
})
export type RecipeProblem = typeof RecipeProblem.Type

/** A recipe that cannot run, with every problem found in it. */
export class RecipeError extends Schema.TaggedError<RecipeError>()("RecipeError", {
  source: Schema.String,
  problems: Schema.Array(RecipeProblem),
  /** What the problem came from (a file that cannot be read, a YAML parser's error), for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    const lines = this.problems.map((problem) => (problem.path === "" ? problem.message : `${problem.path}: ${problem.message}`))
    return `invalid recipe ${this.source}:\n  ${lines.join("\n  ")}`
  }
}
