// Makes docs/report.png, the README's picture of `sous report`: trains two short runs of the
// sft-arithmetic example that differ only in learning rate, writes their report, and takes a
// screenshot of its runs table and charts in headless Chromium (Debian's, or SOUS_CHROMIUM).
//
//   npm run build && npx node scripts/report-screenshot.ts [run-dir ...]
//
// Run directories given as arguments are reported instead of training new ones.
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Effect } from "effect"
import { writeReport } from "../dist/cli/report/index.js"
// The browser tests' launcher: the same chromium, flags and fresh profile.
import { launchChromium } from "../test/support/chromium.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const picture = join(root, "docs", "report.png")
const work = mkdtempSync(join(tmpdir(), "sous-report-screenshot-"))

const train = (name: string, lr: string) => {
  execFileSync(process.execPath, [
    join(root, "bin", "sous"), "run", join(root, "examples", "sft-arithmetic", "recipe.yaml"), "--out", join(work, name),
    "--set", "training.steps=60", "--set", "eval.every=10", "--set", "checkpoint.every=30", "--set", `optimizer.lr=${lr}`
  ], { stdio: ["ignore", "inherit", "ignore"] })
  return name
}

try {
  const out = join(work, "report.html")
  let dirs = process.argv.slice(2)
  if (dirs.length === 0) {
    dirs = [train("lr-3e-3", "3e-3"), train("lr-1e-3", "1e-3")]
    // Runs are named as given: names relative to their directory read best in the picture.
    process.chdir(work)
  }
  await Effect.runPromise(writeReport(dirs, out))
  const chromium = await launchChromium()
  try {
    const page = await chromium.open(pathToFileURL(out).href)
    await page.waitForFunction("window.sousReport && window.sousReport.charts.length > 0")
    if (chromium.errors.length > 0) throw new Error(`the report page reported errors:\n${chromium.errors.join("\n")}`)
    // The runs table and the charts; checkpoints and recipes lie below, as text.
    const bottom = await page.evaluate(`document.querySelector("#evaluation").getBoundingClientRect().bottom + 12`) as number
    await page.screenshot({ path: picture, clip: { x: 0, y: 0, width: 1280, height: Math.min(Math.ceil(bottom), 1600) } })
  } finally {
    await chromium.close()
  }
  process.stdout.write(`wrote ${picture} (${Math.round(statSync(picture).size / 1024)} KiB)\n`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
