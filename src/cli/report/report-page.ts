/**
 * The report as one HTML page that needs nothing else: uPlot's script and style, the page's
 * own, and the chart data (JSON) are all inside it, and it names no URL, so it opens from
 * disk with no network. Tables and recipes are plain HTML; only the charts need the script.
 */
import { formatBytes, formatDuration, formatNumber, formatTime } from "./format.js"
import { escapeHtml, inlineCode, jsonForScript } from "./html.js"
import type { Chart } from "./report-charts.js"
import type { ReportModel, ReportRun } from "./report-model.js"
import { reportScript } from "./report-script.js"
import { reportStyle } from "./report-style.js"
import { uPlotScript, uPlotStyle } from "./uplot-inline.js"

const swatch = (run: ReportRun) => `<span class="swatch" style="background:${escapeHtml(run.color)}"></span>`

const runLabel = (run: ReportRun) => `${swatch(run)}${escapeHtml(run.name)}`

const cell = (text: string, className?: string) => `<td${className === undefined ? "" : ` class="${className}"`}>${text}</td>`

const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, numeric: ReadonlyArray<number> = []) =>
  `<div class="scroll"><table>
<thead><tr>${headers.map((header, index) => `<th${numeric.includes(index) ? ` class="number"` : ""}>${escapeHtml(header)}</th>`).join("")}</tr></thead>
<tbody>
${rows.map((row) => `<tr>${row.join("")}</tr>`).join("\n")}
</tbody>
</table></div>`

const notes = (run: ReportRun) =>
  [
    ...(run.finished ? [] : ["no summary.json: still running, or stopped before its end; timing from events.jsonl"]),
    ...run.resumedAt.map((step) => `resumed from step ${step}`)
  ].join("; ")

const runsSection = (model: ReportModel) => {
  // Most runs need no note: the column is there only when one does.
  const withNotes = model.runs.some((run) => notes(run) !== "")
  const rows = model.runs.map((run) => [
    cell(runLabel(run)),
    cell(escapeHtml(run.kind)),
    cell(String(run.steps), "number"),
    cell(formatNumber(run.finalLoss), "number"),
    cell(escapeHtml(formatTime(run.timing.startedAt))),
    cell(escapeHtml(formatDuration(run.timing.seconds)), "number"),
    cell(formatNumber(run.timing.stepsPerSecond === undefined ? undefined : Number(run.timing.stepsPerSecond.toFixed(2))), "number"),
    cell(`<code>${escapeHtml(run.dir)}</code>`),
    ...(withNotes ? [cell(escapeHtml(notes(run)), "wrap muted")] : [])
  ])
  const headers = ["Run", "Kind", "Steps", "Final loss", "Started", "Duration", "Steps/s", "Directory", ...(withNotes ? ["Notes"] : [])]
  return `<section id="runs">
<h2>Runs</h2>
${table(headers, rows, [2, 3, 5, 6])}
</section>`
}

const figure = (chart: Chart) =>
  `<figure class="chart" id="${chart.id}" data-source="${chart.source}" data-measure="${escapeHtml(chart.measure)}">
<figcaption>${escapeHtml(chart.title)}${chart.title === chart.measure ? "" : `<code>${escapeHtml(chart.measure)}</code>`}</figcaption>
<div class="plot"></div>
</figure>`

const chartsSection = (id: string, title: string, charts: ReadonlyArray<Chart>, empty: string) =>
  `<section id="${id}">
<h2>${title}</h2>
${charts.length === 0 ? `<p class="empty">${empty}</p>` : `<div class="charts">\n${charts.map(figure).join("\n")}\n</div>`}
</section>`

const checkpointsSection = (model: ReportModel) => {
  const rows = model.runs.flatMap((run) =>
    run.checkpoints.map((checkpoint) => [
      cell(runLabel(run)),
      cell(`<code>${escapeHtml(checkpoint.name)}</code>`),
      cell(formatNumber(checkpoint.step), "number"),
      cell(escapeHtml(checkpoint.bytes === undefined ? "manifest not found" : formatBytes(checkpoint.bytes)), "number"),
      cell(escapeHtml(formatTime(checkpoint.createdAt))),
      cell(`<code>${escapeHtml(checkpoint.location)}</code>`)
    ])
  )
  return `<section id="checkpoints">
<h2>Checkpoints</h2>
${rows.length === 0 ? `<p class="empty">No checkpoints.</p>` : table(["Run", "Checkpoint", "Step", "Size", "Committed", "Manifest"], rows, [2, 3])}
</section>`
}

const differencesTable = (model: ReportModel) => {
  if (model.runs.length < 2) return ""
  if (model.recipeDifferences.length === 0) return `<p>The recipes are the same.</p>`
  return `<p>Fields that differ between the runs:</p>
<div class="scroll"><table class="differences">
<thead><tr><th>Field</th>${model.runs.map((run) => `<th>${runLabel(run)}</th>`).join("")}</tr></thead>
<tbody>
${
    model.recipeDifferences.map((difference) =>
      `<tr><td><code>${escapeHtml(difference.path)}</code></td>${
        difference.values.map((value) => cell(value === undefined ? `<span class="muted">absent</span>` : `<code>${escapeHtml(value)}</code>`, "value wrap"))
          .join("")
      }</tr>`
    ).join("\n")
  }
</tbody>
</table></div>`
}

const recipesSection = (model: ReportModel) =>
  `<section id="recipes">
<h2>Recipes</h2>
${differencesTable(model)}
${
    model.runs.map((run) =>
      `<details${model.runs.length === 1 ? " open" : ""}><summary>${runLabel(run)} <span class="muted">· ${
        escapeHtml(run.kind)
      } · resolved recipe.json</span></summary>
<pre>${escapeHtml(JSON.stringify(run.recipe, null, 2))}</pre>
</details>`
    ).join("\n")
  }
</section>`

const title = (model: ReportModel) => `sous report · ${model.runs.map((run) => run.name).join(", ")}`

/**
 * The HTML page of `model`. Its `#report-data` element holds `{ runs: [{ name, color }],
 * charts }` (see `Chart`), and each chart is drawn into the figure whose id it names.
 */
export const reportPage = (model: ReportModel): string => {
  const data = { runs: model.runs.map((run) => ({ name: run.name, color: run.color })), charts: model.charts }
  const count = `${model.runs.length} run${model.runs.length === 1 ? "" : "s"}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title(model))}</title>
<link rel="icon" href="data:,">
<style>${inlineCode(uPlotStyle(), "style")}</style>
<style>${inlineCode(reportStyle, "style")}</style>
</head>
<body>
<header><h1>sous report</h1><p>${count}: ${model.runs.map((run) => `${swatch(run)}${escapeHtml(run.name)}`).join(" &nbsp; ")}</p></header>
<main>
${runsSection(model)}
${chartsSection("training", "Training", model.charts.filter((chart) => chart.source === "train"), "No training steps.")}
${chartsSection("evaluation", "Evaluation", model.charts.filter((chart) => chart.source === "eval"), "No evaluations.")}
${checkpointsSection(model)}
${recipesSection(model)}
</main>
<footer>Written by sous report. Charts drawn with uPlot (MIT licence), inlined in this file.</footer>
<script id="report-data" type="application/json">${jsonForScript(data)}</script>
<script>${inlineCode(uPlotScript(), "script")}</script>
<script>${inlineCode(reportScript, "script")}</script>
</body>
</html>
`
}
