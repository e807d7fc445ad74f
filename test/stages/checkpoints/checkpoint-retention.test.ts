import { describe, expect, it } from "vitest"
import { checkpointsToDelete } from "../../../src/stages/checkpoints/checkpoint-retention.js"

const committed = [4, 8, 12, 16, 20, 24].map((step) => ({ name: `step-${String(step).padStart(8, "0")}`, step }))
const names = (list: ReadonlyArray<{ readonly name: string }>) => list.map((c) => c.name)

describe("checkpointsToDelete", () => {
  it("keeps everything when keepLast is 0", () => {
    expect(checkpointsToDelete(committed, "step-00000024", { keepLast: 0, keepEvery: 8 })).toEqual([])
  })

  it("keeps the last K and every Mth step, deleting the rest", () => {
    expect(names(checkpointsToDelete(committed, "step-00000024", { keepLast: 2, keepEvery: 8 }))).toEqual([
      "step-00000004",
      "step-00000012"
    ])
    expect(names(checkpointsToDelete(committed, "step-00000024", { keepLast: 1, keepEvery: 0 }))).toEqual([
      "step-00000004", "step-00000008", "step-00000012", "step-00000016", "step-00000020"
    ])
  })

  it("never deletes the newest committed checkpoint or final", () => {
    const withFinal = [...committed, { name: "final", step: 26 }]
    // The newest is named explicitly: even an older-looking name just committed stays.
    const doomed = names(checkpointsToDelete(withFinal, "step-00000004", { keepLast: 1, keepEvery: 0 }))
    expect(doomed).not.toContain("step-00000004")
    expect(doomed).not.toContain("final")
    expect(doomed).toContain("step-00000024")
  })
})
