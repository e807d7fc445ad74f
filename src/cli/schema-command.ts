/**
 * `sous schema [kind]`: the JSON Schema of recipe files, which editors use to complete and
 * check a recipe as it is typed (see the README).
 */
import { Effect } from "effect"
import { closestName } from "../ports/closest-name.js"
import { recipeJsonSchema, type RecipeSchemaKind, recipeSchemaKinds } from "../recipes/recipe-json-schema.js"
import { type ParsedArgs, UsageError } from "./args.js"
import type { CliError } from "./cli-error.js"

const isSchemaKind = (name: string): name is RecipeSchemaKind => (recipeSchemaKinds as ReadonlyArray<string>).includes(name)

/**
 * The program of `sous schema [kind]`: prints the JSON Schema of a recipe file of `kind`, or
 * of any recipe file without one, to stdout. Like the other commands, it throws a
 * {@link UsageError} for a command line it cannot take (an unknown kind, an extra argument),
 * before anything runs.
 */
export const schemaCommand = (args: ParsedArgs): Effect.Effect<void, CliError> => {
  const [kind, ...extra] = args.positionals
  if (extra.length > 0) throw new UsageError({ message: `sous schema takes one kind at most, got also ${extra[0]}` })
  if (args.out !== undefined) throw new UsageError({ message: "--out is not an option of sous schema (it prints to stdout)" })
  if (args.sets.length > 0) throw new UsageError({ message: "--set is not an option of sous schema" })
  if (kind !== undefined && !isSchemaKind(kind)) {
    const meant = closestName(kind, recipeSchemaKinds)
    throw new UsageError({
      message: `sous schema takes one of ${recipeSchemaKinds.join(", ")} (or none: any recipe), got '${kind}'` +
        (meant === undefined ? "" : `; did you mean ${meant}?`)
    })
  }
  const text = JSON.stringify(recipeJsonSchema(kind), null, 2)
  return Effect.sync(() => {
    process.stdout.write(`${text}\n`)
  })
}
