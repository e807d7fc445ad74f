// `s3://…`, `hf://…`: a scheme followed by `//`. A Windows path such as `C:\data` has no `//`.
const schemePattern = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//

/**
 * The scheme of a location written as a URI (`file`, `s3`, `hf`, lower-cased), or undefined
 * for a plain path. Recipes, dataset sources and blob stores tell the two apart the same way.
 */
export const uriScheme = (location: string): string | undefined => schemePattern.exec(location)?.[1]?.toLowerCase()
