import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { type Browser, launch, type Page } from "puppeteer-core"

// Browser tests drive Debian's `chromium` (apt-get install chromium) through puppeteer-core,
// which downloads no browser of its own. `SOUS_CHROMIUM` names another binary.

/** The chromium binary the tests use: `SOUS_CHROMIUM`, else Debian's. */
export const chromiumPath = (): string => process.env.SOUS_CHROMIUM || "/usr/bin/chromium"

const isSet = (value: string | undefined) => value !== undefined && value !== "" && value !== "0" && value !== "false"

/**
 * Why the browser tests cannot run here, or `undefined` when they can. On CI (or with
 * `SOUS_REQUIRE_CHROMIUM=1`) a missing browser throws instead, so the tests never pass there
 * by being skipped. Call it when a test file is collected, and skip its suite on a reason.
 */
export const chromiumSkipReason = (): string | undefined => {
  const binary = chromiumPath()
  if (existsSync(binary)) return undefined
  const message = `Chromium is required: apt-get install chromium, or set SOUS_CHROMIUM (no ${binary})`
  if (isSet(process.env.CI) || process.env.SOUS_REQUIRE_CHROMIUM === "1") throw new Error(message)
  return `skipped: ${message}`
}

/** A headless chromium of the test's own, and what its pages reported as errors. */
export interface ChromiumSession {
  readonly browser: Browser
  /**
   * Console errors (`console.error`, failed resource loads) and uncaught page errors of every
   * page opened with {@link ChromiumSession.open}, in order, each prefixed with its kind.
   */
  readonly errors: ReadonlyArray<string>
  /** A new page (1280x900) at `url`, once its `load` event fired. */
  readonly open: (url: string) => Promise<Page>
  /** Closes the browser and removes its profile directory. */
  readonly close: () => Promise<void>
}

// The flags that run Debian's chromium headless as root in a container, with nothing that
// calls home: puppeteer's own defaults are left out (`ignoreDefaultArgs`).
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/**
 * Starts chromium with a fresh profile in a temp directory. Close it with
 * {@link ChromiumSession.close} (an `afterAll`, or `onTestFinished`).
 */
export const launchChromium = async (): Promise<ChromiumSession> => {
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), "sous-chromium-"))
  const errors: Array<string> = []
  let browser: Browser
  try {
    browser = await launch({
      executablePath: chromiumPath(),
      ignoreDefaultArgs: true,
      args: [...chromiumArgs, `--user-data-dir=${profile}`],
      defaultViewport: { width: 1280, height: 900 },
      timeout: 60_000
    })
  } catch (error) {
    await fs.rm(profile, { recursive: true, force: true })
    throw error
  }
  const open = async (url: string) => {
    const page = await browser.newPage()
    page.on("console", (message) => {
      if (message.type() === "error") {
        const location = message.location().url
        errors.push(`console: ${message.text()}${location === undefined ? "" : ` (${location})`}`)
      }
    })
    page.on("pageerror", (error) => errors.push(`page: ${error instanceof Error ? error.stack ?? error.message : String(error)}`))
    // A page that keeps a stream open is never network-idle: `load` is when it has started.
    await page.goto(url, { waitUntil: "load" })
    return page
  }
  const close = async () => {
    await browser.close().catch(() => undefined)
    await fs.rm(profile, { recursive: true, force: true, maxRetries: 3 })
  }
  return { browser, errors, open, close }
}

// The tests type-check without the DOM library, so what runs in the page is passed as the
// source text of a JavaScript expression rather than as a function.

/** The value of the JavaScript `expression` in the page (JSON-serializable). */
export const pageValue = <A>(page: Page, expression: string): Promise<A> => page.evaluate(expression) as Promise<A>

/** Waits until the JavaScript `expression` is truthy in the page; fails after `timeoutMs`. */
export const waitForExpression = async (page: Page, expression: string, timeoutMs = 10_000): Promise<void> => {
  await page.waitForFunction(expression, { timeout: timeoutMs, polling: 50 }).catch(async (error: unknown) => {
    const body = await page.evaluate("document.body.innerText").catch(() => "(page unreadable)")
    throw new Error(`timed out waiting for ${expression} in ${page.url()}: ${String(error)}\npage text:\n${String(body).slice(0, 2_000)}`)
  })
}
