/** The report page's style sheet, inlined into the page; the job dashboard's colours and type. */
export const reportStyle = String.raw`
:root {
  --ink: #1f2933; --muted: #66788a; --line: #d9e2ec; --panel: #ffffff; --ground: #f4f6f8;
  --accent: #2563eb; --mark: #fff4d6;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: var(--ground);
}
* { box-sizing: border-box; }
body { margin: 0; }
header { display: flex; align-items: baseline; gap: 1rem; padding: 0.6rem 1.2rem; background: #102a43; color: #f0f4f8; }
header h1 { margin: 0; font-size: 1.1rem; font-weight: 600; letter-spacing: 0.02em; }
header p { margin: 0; color: #bcccdc; font-size: 0.9rem; }
main { display: grid; gap: 1rem; padding: 1rem 1.2rem; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.8rem 1rem; min-width: 0; }
h2 { margin: 0 0 0.6rem; font-size: 1rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.3rem 0.7rem 0.3rem 0; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 0.8rem; }
td.number, th.number { text-align: right; padding-right: 1.2rem; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; word-break: break-all; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85em; }
.muted, .empty { color: var(--muted); }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 0.45em; vertical-align: -0.05em; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 25rem), 1fr)); gap: 1rem 1.4rem; }
figure.chart { margin: 0; min-width: 0; }
figure.chart figcaption { font-weight: 600; margin-bottom: 0.2rem; }
figure.chart figcaption code { font-weight: 400; color: var(--muted); margin-left: 0.4em; }
.plot { min-width: 0; overflow: hidden; }
.uplot .u-legend { font-size: 0.8rem; margin-top: 0.1rem; }
.uplot .u-legend th { color: var(--muted); }
table.differences td.value { background: var(--mark); }
details { border-top: 1px solid var(--line); padding: 0.4rem 0; }
details summary { cursor: pointer; }
details pre { margin: 0.4rem 0 0; padding: 0.6rem; background: var(--ground); border-radius: 4px; overflow: auto; max-height: 32rem; }
footer { padding: 0 1.2rem 1.2rem; color: var(--muted); font-size: 0.85rem; }
`
