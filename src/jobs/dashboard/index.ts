/**
 * The job service's dashboard: the page (`GET /`), its assets (`GET /assets/<name>`), and
 * the live stream of one job (`GET /v1/sous/jobs/{id}/stream`) built on the run's points.
 */
export { type DashboardAsset, dashboardAsset, dashboardAssetNames } from "./dashboard-assets.js"
export { dashboardPage, dashboardPageContentType } from "./dashboard-page.js"
export { type JobStreamOptions, type JobStreamSource, type MetricsMessage, streamJob } from "./job-stream.js"
export {
  cachedRunPointsReader,
  type EvalPoint,
  readRunPoints,
  type RunPoints,
  type RunPointsReader,
  type TrainPoint
} from "./run-metrics.js"
