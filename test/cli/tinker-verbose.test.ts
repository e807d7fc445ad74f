import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testDirectory } from "../support/temp-directory.js"
import { root, runCliAsync } from "./run-cli.js"

// A Tinker service that refuses every request for good (400 is never retried), so the run
// fails at once on its first request, `/client/config`.
const refusal = "sdk_version: this server speaks another protocol"
const key = "tml-verbose-test-key-5c2e"
const recipe = join(root, "examples/sft-arithmetic/recipe.yaml")

/** A stack trace line, which users should only see with --verbose. */
const stackLine = /^\s+at .+$/m

let server: http.Server
let url: string

const runAgainstService = (extra: ReadonlyArray<string>) =>
  runCliAsync(
    ["run", recipe, "--out", join(testDirectory("tinker-verbose"), "run"), "--set", `backend={kind: tinker, baseUrl: "${url}"}`, ...extra],
    { TINKER_API_KEY: key }
  )

describe("sous run against a tinker service that refuses the request", () => {
  beforeAll(async () => {
    server = http.createServer((_, response) => {
      response.writeHead(400, { "content-type": "application/json" })
      response.end(JSON.stringify({ error: refusal }))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  it("prints one line naming the request, and the chain of causes with --verbose", async () => {
    const plain = await runAgainstService([])
    expect(plain.code).toBe(1)
    const line = plain.stderr.trim()
    expect(line.split("\n")).toHaveLength(1)
    expect(line).toContain("/client/config")
    expect(line).toContain(refusal)
    expect(line).not.toMatch(stackLine)

    const verbose = await runAgainstService(["--verbose"])
    expect(verbose.code).toBe(1)
    // The backend's error, and under it the request's own.
    expect(verbose.stderr).toContain("BackendUnavailableError: /client/config failed with HTTP 400")
    expect(verbose.stderr).toMatch(/\[cause\]: TinkerRequestError: \/client\/config failed with HTTP 400/)
    expect(verbose.stderr).toMatch(stackLine)
    for (const output of [plain.stderr, verbose.stderr, plain.stdout, verbose.stdout]) expect(output).not.toContain(key)
  })
})
