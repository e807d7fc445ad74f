import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"
import { dashboardAsset, dashboardAssetNames } from "../../../src/jobs/dashboard/dashboard-assets.js"
import { dashboardPage } from "../../../src/jobs/dashboard/dashboard-page.js"
import { dashboardScript } from "../../../src/jobs/dashboard/dashboard-script.js"

// The page without a browser (dashboard-browser.test.ts runs it in one).

describe("dashboard page", () => {
  it("holds a script that parses", () => {
    expect(() => new Function(dashboardScript)).not.toThrow()
  })

  it("loads nothing from elsewhere: no favicon request, only its own assets", () => {
    const page = dashboardPage()
    expect(page).toContain(`<link rel="icon" href="data:,">`)
    const references = [...page.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1])
    expect(references.filter((reference) => reference !== "data:,").sort()).toEqual(["assets/uPlot.iife.min.js", "assets/uPlot.min.css"])
    expect(page).not.toMatch(/https?:\/\//)
    // The inline script and style cannot end their element early.
    expect(page.match(/<\/script>/g)).toHaveLength(2)
    expect(page.match(/<\/style>/g)).toHaveLength(1)
  })

  it("marks the chart element for tests", () => {
    expect(dashboardPage()).toContain(`<div id="chart" data-points="0">`)
  })
})

describe("dashboardAsset", () => {
  const require = createRequire(import.meta.url)

  it("serves uPlot's script and style from the installed package", () => {
    expect(dashboardAssetNames).toEqual(["uPlot.iife.min.js", "uPlot.min.css"])
    const script = dashboardAsset("uPlot.iife.min.js")
    expect(script?.contentType).toBe("text/javascript; charset=utf-8")
    expect(Buffer.from(script!.body).equals(readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js")))).toBe(true)
    const style = dashboardAsset("uPlot.min.css")
    expect(style?.contentType).toBe("text/css; charset=utf-8")
    expect(Buffer.from(style!.body).toString("utf8")).toContain(".uplot")
  })

  it("answers nothing for any other name", () => {
    for (const name of ["", "uPlot.esm.js", "../package.json", "..%2Fpackage.json", "constructor", "__proto__", "toString"]) {
      expect(dashboardAsset(name)).toBeUndefined()
    }
  })
})
