/**
 * The files the dashboard page loads from `GET /assets/<name>`: uPlot's script and style,
 * served from the installed package, since the page may reach nothing but its own server.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"

/** A file to answer an asset request with. */
export interface DashboardAsset {
  readonly contentType: string
  readonly body: Uint8Array
}

const assets: Readonly<Record<string, { readonly module: string; readonly contentType: string }>> = {
  "uPlot.iife.min.js": { module: "uplot/dist/uPlot.iife.min.js", contentType: "text/javascript; charset=utf-8" },
  "uPlot.min.css": { module: "uplot/dist/uPlot.min.css", contentType: "text/css; charset=utf-8" }
}

const loaded = new Map<string, DashboardAsset>()

/**
 * The asset `name` (`uPlot.iife.min.js`, `uPlot.min.css`), or undefined for any other name.
 * Each file is read once, on its first request, and kept.
 */
export const dashboardAsset = (name: string): DashboardAsset | undefined => {
  if (!Object.hasOwn(assets, name)) return undefined
  const found = loaded.get(name)
  if (found !== undefined) return found
  const { contentType, module } = assets[name]!
  const asset = { contentType, body: new Uint8Array(readFileSync(createRequire(import.meta.url).resolve(module))) }
  loaded.set(name, asset)
  return asset
}

/** The names {@link dashboardAsset} answers. */
export const dashboardAssetNames: ReadonlyArray<string> = Object.keys(assets)
