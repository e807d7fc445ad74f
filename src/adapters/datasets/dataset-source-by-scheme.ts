import { type Schema, Stream } from "effect"
import { DatasetError, DatasetSource, uriScheme } from "../../ports/index.js"

/**
 * One {@link DatasetSource} over several: each URI goes to the source registered for its
 * scheme (`file`, `s3`, `hf`); a plain path counts as `file`. A URI of a scheme with no
 * source is a {@link DatasetError} that lists the schemes there are.
 */
export const datasetSourceByScheme = (sources: Readonly<Record<string, DatasetSource["Service"]>>): DatasetSource["Service"] =>
  DatasetSource.of({
    rows: <A, I>(uri: string, schema: Schema.Codec<A, I>, options?: { readonly fromLine?: number }) => {
      const scheme = uriScheme(uri) ?? "file"
      const source = Object.hasOwn(sources, scheme) ? sources[scheme] : undefined
      if (source !== undefined) return source.rows(uri, schema, options)
      const known = Object.keys(sources).map((name) => `${name}://`).join(", ")
      return Stream.fail(new DatasetError({ uri, message: `no dataset source reads ${scheme}:// URIs here (configured: ${known || "none"})` }))
    }
  })
