/**
 * uPlot's script and style sheet as text to inline into the report, from the installed
 * package (the files the job dashboard serves), so the report opens with no network.
 */
import { dashboardAsset } from "../../jobs/dashboard/dashboard-assets.js"

const assetText = (name: string): string => {
  const asset = dashboardAsset(name)
  if (asset === undefined) throw new Error(`uPlot asset ${name} is not known`)
  return new TextDecoder().decode(asset.body)
}

/**
 * uPlot's minified script. Its banner comment names the project by URL; the report names it
 * without the scheme (and with its licence), so the page holds no URL at all, which is how
 * the tests check that it loads nothing.
 */
export const uPlotScript = (): string =>
  assetText("uPlot.iife.min.js").replace(/^\/\*! https:\/\/(github\.com\/leeoniya\/uPlot) /, "/*! uPlot, MIT licence, (c) Leon Sorokin, $1 ")

/** uPlot's style sheet. */
export const uPlotStyle = (): string => assetText("uPlot.min.css")
