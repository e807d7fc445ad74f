/**
 * The optimal-string-alignment distance between `a` and `b`: the fewest insertions,
 * deletions, substitutions and swaps of two neighbouring characters that turn one into the
 * other (`modle` is one swap from `model`). Written here: a few lines, where a library for
 * it would be a dependency for one suggestion.
 */
export const editDistance = (a: string, b: string): number => {
  // rows[i][j]: the distance between the first i characters of a and the first j of b.
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = best
    }
  }
  return rows[a.length]![b.length]!
}

/**
 * The candidate `name` was most likely meant to be, for a "did you mean": the nearest by
 * {@link editDistance}, ignoring case, within a third of the name's length; undefined when
 * none is that close (a guess far off misleads more than no guess).
 */
export const closestName = (name: string, candidates: Iterable<string>): string | undefined => {
  let closest: { readonly candidate: string; readonly distance: number } | undefined
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (distance <= Math.floor(name.length / 3) && (closest === undefined || distance < closest.distance)) closest = { candidate, distance }
  }
  return closest?.candidate
}
