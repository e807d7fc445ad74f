import { readdirSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"

/** The script that compiles the kernels (JavaScript, so typed here by hand). */
const kernelScript = import("../../../scripts/write-wasm-kernels.js" as string) as Promise<{
  readonly kernelsDir: string
  readonly kernelModule: (watFile: string) => Promise<string>
}>

describe("the local backend's WebAssembly kernels", () => {
  it("ship as compiled from their .wat sources (regenerate: node scripts/write-wasm-kernels.js)", async () => {
    const { kernelsDir, kernelModule } = await kernelScript
    const sources = readdirSync(kernelsDir).filter((file) => file.endsWith(".wat"))
    expect(sources).toEqual(["activations.wat", "adamw.wat", "batch-matmul.wat", "layer-norm.wat"])
    for (const source of sources) {
      expect(readFileSync(`${kernelsDir}${source.replace(/\.wat$/, "-wasm.ts")}`, "utf8")).toBe(await kernelModule(source))
    }
  })
})
