/**
 * What an MLflow tracking server accepts (mlflow/utils/validation.py): per `runs/log-batch`
 * call at most 1,000 metrics, 100 params and 100 tags, 1,000 in all; keys of at most 250
 * characters; param values of at most 6,000 characters (500 before MLflow 2), tag values
 * of at most 5,000.
 */
export const mlflowLimits = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 5000
} as const

/**
 * A metric, param or tag name as MLflow takes it. MLflow allows letters, digits, `_`, `-`,
 * `.`, space and `/` (servers since 2.11 also `:`, but not older ones nor any on Windows),
 * and refuses a name that a path normalization would change (`a//b`, `/a`, `..`). So every
 * other character becomes `_` (`grad_norm:mean` is logged as `grad_norm_mean`), a name that
 * is still not a clean path has its `/` and `.` replaced as well, and it is cut to 250
 * characters. The mapping is the same for every server, so a key can be found again.
 */
export const mlflowKey = (name: string): string => {
  const safe = name.replace(/[^A-Za-z0-9_\-. /]/g, "_")
  const key = isCleanPath(safe) ? safe : safe.replace(/[/.]/g, "_")
  return key === "" ? "_" : key.slice(0, mlflowLimits.keyLength)
}

// What MLflow's `path_not_unique` accepts: a name posix normalization leaves as it is, and
// that does not start with `..` or `/`.
const isCleanPath = (name: string): boolean =>
  name !== "" &&
  !name.startsWith("/") &&
  !name.startsWith("..") &&
  !name.endsWith("/") &&
  !name.includes("//") &&
  name.split("/").every((part) => part !== "." && part !== "..")

/**
 * A metric value as MLflow's JSON takes it: a number, or for the values JSON has no number
 * for, the strings protobuf's JSON mapping reads as doubles (`"NaN"`, `"Infinity"`,
 * `"-Infinity"`), so a diverged loss is logged as such rather than refused.
 */
export const mlflowValue = (value: number): number | string =>
  Number.isFinite(value) ? value : Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity"

/** `items` in consecutive groups of at most `size`. */
export const inGroups = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const groups: Array<ReadonlyArray<A>> = []
  for (let start = 0; start < items.length; start += size) groups.push(items.slice(start, start + size))
  return groups
}
