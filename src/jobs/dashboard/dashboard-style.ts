/** The dashboard page's style sheet, inlined into the page. */
export const dashboardStyle = String.raw`
:root {
  --ink: #1f2933; --muted: #66788a; --line: #d9e2ec; --panel: #ffffff; --ground: #f4f6f8;
  --accent: #2563eb; --good: #15803d; --bad: #b91c1c; --warn: #b45309;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: var(--ground);
}
* { box-sizing: border-box; }
body { margin: 0; }
header {
  display: flex; align-items: center; gap: 1rem; padding: 0.6rem 1.2rem;
  background: #102a43; color: #f0f4f8;
}
header h1 { margin: 0; font-size: 1.1rem; font-weight: 600; letter-spacing: 0.02em; }
header .spacer { flex: 1; }
header button { background: transparent; color: inherit; border: 1px solid #486581; border-radius: 4px; padding: 0.2rem 0.7rem; cursor: pointer; }
#connection { font-size: 0.85rem; color: #bcccdc; }
#notice { margin: 0.8rem 1.2rem 0; padding: 0.5rem 0.8rem; border-radius: 4px; background: #fde8e8; color: var(--bad); }
#notice:empty { display: none; }
main { display: grid; grid-template-columns: minmax(31rem, 2fr) 3fr; gap: 1rem; padding: 1rem 1.2rem; align-items: start; }
@media (max-width: 60rem) { main { grid-template-columns: 1fr; } }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.8rem 1rem; min-width: 0; }
h2 { margin: 0 0 0.6rem; font-size: 1rem; }
h3 { margin: 1rem 0 0.4rem; font-size: 0.9rem; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
table { width: 100%; border-collapse: collapse; }
.scroll { overflow-x: auto; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-weight: 600; color: var(--muted); font-size: 0.8rem; }
td.wrap { white-space: normal; word-break: break-word; }
#jobs-table { font-size: 0.9rem; }
#jobs-table th, #jobs-table td { padding: 0.3rem 0.35rem; }
#jobs-table tbody tr { cursor: pointer; }
#jobs-table .sub { color: var(--muted); font-size: 0.8rem; }
#jobs-table tbody tr:hover { background: #f0f4f8; }
#jobs-table tbody tr.selected { background: #e0ecff; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85em; }
.empty { color: var(--muted); margin: 0.4rem 0; }
.status { display: inline-block; padding: 0 0.45rem; border-radius: 999px; font-size: 0.8rem; background: #e4e7eb; }
.status.running { background: #dbeafe; color: #1e40af; }
.status.queued, .status.validating_files, .status.paused { background: #fef3c7; color: var(--warn); }
.status.succeeded { background: #dcfce7; color: var(--good); }
.status.failed { background: #fee2e2; color: var(--bad); }
.status.cancelled { background: #e4e7eb; color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }
#chart { margin-top: 0.8rem; min-height: 2rem; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
@media (max-width: 80rem) { .columns { grid-template-columns: 1fr; } }
ol.events { list-style: none; margin: 0; padding: 0; max-height: 24rem; overflow: auto; }
ol.events li { padding: 0.25rem 0; border-bottom: 1px solid var(--line); display: grid; grid-template-columns: max-content max-content 1fr; gap: 0.6rem; }
ol.events .time { color: var(--muted); }
ol.events .level-warn { color: var(--warn); }
ol.events .level-error { color: var(--bad); }
form#key-form { max-width: 28rem; margin: 3rem auto; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 1.2rem; }
form#key-form label { display: block; margin-bottom: 0.4rem; font-weight: 600; }
form#key-form input { width: 100%; padding: 0.4rem; border: 1px solid var(--line); border-radius: 4px; font: inherit; }
form#key-form button { margin-top: 0.8rem; padding: 0.4rem 1rem; border: 0; border-radius: 4px; background: var(--accent); color: white; font: inherit; cursor: pointer; }
form#key-form p { color: var(--muted); margin: 0.6rem 0 0; }
[hidden] { display: none !important; }
`
