import { readFileSync } from "node:fs"

/**
 * The version of sous, from the package.json the package ships: two directories above this
 * file, both as src/cli/version.ts and compiled as dist/cli/version.js. Read when asked, so
 * only `sous --version` reads the file.
 */
export const packageVersion = (): string => {
  const file = new URL("../../package.json", import.meta.url)
  const version: unknown = (JSON.parse(readFileSync(file, "utf8")) as { readonly version?: unknown }).version
  if (typeof version !== "string") throw new Error(`${file.pathname} has no "version" string`)
  return version
}
