import type { Route, ServerState } from "../server-state.js"
import { futureRoutes } from "./future-routes.js"
import { modelRoutes } from "./model-routes.js"
import { restRoutes } from "./rest-routes.js"
import { samplingRoutes } from "./sampling-routes.js"
import { sessionRoutes } from "./session-routes.js"
import { trainingRoutes } from "./training-routes.js"

/** Every endpoint of the server, by `<METHOD> <path under /api/v1>`. */
export const routeTable = (state: ServerState): ReadonlyMap<string, Route> =>
  new Map(
    [
      ...sessionRoutes(state),
      ...modelRoutes(state),
      ...trainingRoutes(state),
      ...samplingRoutes(state),
      ...futureRoutes(state),
      ...restRoutes(state)
    ].map((route) => [`${route.method} ${route.path}`, route] as const)
  )

export { tryAgainReply } from "./future-routes.js"
