/**
 * The dashboard (`GET /`): one HTML page, its style and script inline, that lists a tenant's
 * jobs and follows one live. It loads only uPlot from its own server (`/assets/`, see
 * `dashboardAsset`) and calls the job API with the key the user gives it: the page itself
 * holds no secret, so it is served without authentication.
 */
import { dashboardScript } from "./dashboard-script.js"
import { dashboardStyle } from "./dashboard-style.js"

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>sous · fine-tuning jobs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/uPlot.min.css">
<style>${dashboardStyle}</style>
</head>
<body>
<header>
  <h1>sous · fine-tuning jobs</h1>
  <span class="spacer"></span>
  <span id="connection" aria-live="polite"></span>
  <button id="sign-out" type="button" hidden>Change key</button>
</header>
<div id="notice" role="alert"></div>
<form id="key-form" hidden>
  <label for="key-input">API key</label>
  <input id="key-input" type="password" autocomplete="off" spellcheck="false">
  <button type="submit">Open</button>
  <p id="key-message"></p>
</form>
<main id="app" hidden>
  <section class="panel">
    <h2>Jobs</h2>
    <div class="scroll">
      <table id="jobs-table">
        <thead><tr><th>Job</th><th>Status</th><th>Created</th><th>Step</th></tr></thead>
        <tbody id="jobs-body"></tbody>
      </table>
    </div>
    <p id="jobs-empty" class="empty" hidden>No jobs yet.</p>
  </section>
  <section class="panel">
    <p id="detail-empty" class="empty">Select a job to follow it.</p>
    <div id="detail" hidden>
      <h2 id="job-title" class="mono"></h2>
      <dl id="facts" class="facts"></dl>
      <div id="chart" data-points="0"></div>
      <p id="chart-empty" class="empty">No training steps yet.</p>
      <div class="columns">
        <div>
          <h3>Checkpoints</h3>
          <table>
            <thead><tr><th>Step</th><th>Checkpoint</th><th>Metrics</th></tr></thead>
            <tbody id="checkpoints-body"></tbody>
          </table>
          <p id="checkpoints-empty" class="empty">None yet.</p>
        </div>
        <div>
          <h3>Events</h3>
          <ol id="events" class="events"></ol>
          <p id="events-empty" class="empty">None yet.</p>
        </div>
      </div>
    </div>
  </section>
</main>
<script src="assets/uPlot.iife.min.js"></script>
<script>${dashboardScript}</script>
</body>
</html>
`

/** The content type to serve {@link dashboardPage} with. */
export const dashboardPageContentType = "text/html; charset=utf-8"

/**
 * The dashboard page's HTML. It reads the API key from `#key=<key>` (then drops it from the
 * address bar and keeps it in sessionStorage) or asks for it, and selects the job of
 * `#job=<id>`. It calls, with `Authorization: Bearer <key>`:
 * `GET v1/fine_tuning/jobs?limit=100` (every 5 s), and for the selected job
 * `GET v1/fine_tuning/jobs/{id}/checkpoints`, `GET v1/fine_tuning/jobs/{id}/events?limit=100`
 * and `GET v1/sous/jobs/{id}/stream` (see `streamJob`). All paths are relative to the page,
 * so the service may sit under a prefix. The chart element (`#chart`) carries the number
 * of training points it shows in `data-points`.
 */
export const dashboardPage = (): string => page
