// Compiles the WebAssembly kernels of the local backend (src/adapters/local/kernels/*.wat) and
// writes each as base64 into a TypeScript module beside it (<name>-wasm.ts), so the package
// ships them inside its JavaScript and loads no file at run time: node scripts/write-wasm-kernels.js
// test/adapters/local/wasm-kernels.test.ts fails while a written module differs from its .wat.
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import wabt from "wabt"

export const kernelsDir = fileURLToPath(new URL("../src/adapters/local/kernels/", import.meta.url))

/** The TypeScript module that holds `watFile`'s compiled bytes (a file name in kernelsDir). */
export const kernelModule = async (watFile) => {
  const compiler = await wabt()
  const parsed = compiler.parseWat(watFile, readFileSync(`${kernelsDir}${watFile}`, "utf8"), { simd: true })
  parsed.validate()
  const { buffer } = parsed.toBinary({})
  parsed.destroy()
  const name = watFile.replace(/\.wat$/, "").replace(/-(\w)/g, (_, c) => c.toUpperCase())
  return [
    `// Written by scripts/write-wasm-kernels.js from ${watFile}; edit that file and run the script.`,
    `/** The compiled ${watFile}, base64. */`,
    `export const ${name}Wasm =`,
    `  "${Buffer.from(buffer).toString("base64")}"`,
    ""
  ].join("\n")
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const watFile of readdirSync(kernelsDir).filter((file) => file.endsWith(".wat"))) {
    const target = watFile.replace(/\.wat$/, "-wasm.ts")
    writeFileSync(`${kernelsDir}${target}`, await kernelModule(watFile))
    console.log(`wrote src/adapters/local/kernels/${target}`)
  }
}
