/** How the report writes numbers, sizes, durations and times: short, and the same on every machine. */

/** Integers as they are; other numbers to 4 significant digits. */
export const formatNumber = (value: number | undefined): string => {
  if (value === undefined) return "–"
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)))
}

/** Bytes in B, KiB, MiB or GiB. */
export const formatBytes = (bytes: number | undefined): string => {
  if (bytes === undefined) return "–"
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}

/** Seconds as `12.3 s`, `4 min 05 s` or `2 h 03 min`. */
export const formatDuration = (seconds: number | undefined): string => {
  if (seconds === undefined) return "–"
  if (seconds < 60) return `${seconds.toFixed(1)} s`
  const whole = Math.round(seconds)
  const pad = (value: number) => String(value).padStart(2, "0")
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${pad(whole % 60)} s`
  return `${Math.floor(whole / 3600)} h ${pad(Math.floor((whole % 3600) / 60))} min`
}

/** An ISO 8601 time as `2026-12-07 08:59:04 UTC`; anything else as given. */
export const formatTime = (iso: string | undefined): string => {
  if (iso === undefined) return "–"
  const time = new Date(iso)
  return Number.isNaN(time.getTime()) ? iso : `${time.toISOString().slice(0, 19).replace("T", " ")} UTC`
}
