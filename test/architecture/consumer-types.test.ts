import { describe, expect, it } from "vitest"
import { consumerProject, fixtureText, typecheck, typecheckTimeout } from "../fixtures/consumer/consumer-project.js"
import { testDirectory } from "../support/temp-directory.js"

// Every subpath export a program may import, but `sous/local`: its plain TensorFlow.js pieces
// expose tfjs's own declarations, which fail under `strict` with `skipLibCheck: false`.
const entryPoints = ["sous", "sous/stages", "sous/workflows", "sous/recipes", "sous/kitchen", "sous/pipeline", "sous/adapters", "sous/tinker", "sous/server"]

const everyEntryPoint = [
  ...entryPoints.map((entry, index) => `import * as entry${index} from "${entry}"`),
  `export const entries = [${entryPoints.map((_, index) => `entry${index}`).join(", ")}]`
].join("\n")

describe("a consumer's tsc", () => {
  // One tsc run over the built package (dist/*.d.ts, so npm run build first) with
  // skipLibCheck off: sous's declarations and those they reach must check, typed recipes must
  // type-check, and every mistake in typos.ts must be an error (an unused @ts-expect-error is).
  it("checks sous's declarations with skipLibCheck off, accepts typed recipes and refuses typos", () => {
    const dir = testDirectory("consumer")
    consumerProject(dir, {
      "typed-recipes.ts": fixtureText("typed-recipes.ts"),
      "typos.ts": fixtureText("typos.ts"),
      "entry-points.ts": everyEntryPoint
    })
    const { output, status } = typecheck(dir)
    expect(output).toBe("")
    expect(status).toBe(0)
  }, typecheckTimeout + 10_000)
})
