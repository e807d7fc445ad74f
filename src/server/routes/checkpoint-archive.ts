import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { type CheckpointPath, formatCheckpointPath, parseCheckpointPath } from "../state-paths.js"

/** What a download link grants: one checkpoint of one key, until `expiresAt`. */
export interface ArchiveGrant {
  readonly owner: string
  readonly checkpoint: CheckpointPath
  /** Ms since the epoch. */
  readonly expiresAt: number
}

/**
 * Signs and checks download links for checkpoint archives. The link must work without the
 * API key (the SDK's `tinker checkpoint download` fetches it with plain `urllib`, as it would
 * a presigned S3 URL), so it carries its grant, signed with a secret the server makes at
 * start: links die with the server, and nothing is stored per link.
 */
export const makeArchiveSigner = () => {
  const secret = randomBytes(32)
  const mac = (payload: string) => createHmac("sha256", secret).update(payload).digest()

  /** A token for `grant`: base64url JSON, a dot, base64url HMAC. */
  const sign = (grant: ArchiveGrant): string => {
    const payload = Buffer.from(JSON.stringify([grant.owner, formatCheckpointPath(grant.checkpoint), grant.expiresAt])).toString("base64url")
    return `${payload}.${mac(payload).toString("base64url")}`
  }

  /** The grant of a token this server signed, "expired", or undefined for any other text. */
  const verify = (token: string, now: number): ArchiveGrant | "expired" | undefined => {
    const [payload, signature, ...rest] = token.split(".")
    if (payload === undefined || signature === undefined || rest.length > 0) return undefined
    const expected = mac(payload)
    const given = Buffer.from(signature, "base64url")
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    const [owner, tinkerPath, expiresAt] = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as [string, string, number]
    const checkpoint = parseCheckpointPath(tinkerPath)
    if (typeof checkpoint === "string") return undefined
    return expiresAt <= now ? "expired" : { owner, checkpoint, expiresAt }
  }

  return { sign, verify }
}

const block = 512

// An octal field of `width` bytes: digits, then a NUL.
const octal = (header: Uint8Array, offset: number, width: number, value: number) => {
  header.set(new TextEncoder().encode(value.toString(8).padStart(width - 1, "0")), offset)
}

/**
 * A ustar archive of one file, as `tinker checkpoint download` extracts it (it expects a tar
 * whatever the checkpoint holds). Sizes up to 8 GiB fit the header's 11 octal digits.
 */
export const tarOf = (name: string, bytes: Uint8Array, mtimeMs: number): Uint8Array => {
  const header = new Uint8Array(block)
  const encoder = new TextEncoder()
  header.set(encoder.encode(name).subarray(0, 100), 0)
  octal(header, 100, 8, 0o644)
  octal(header, 108, 8, 0)
  octal(header, 116, 8, 0)
  octal(header, 124, 12, bytes.byteLength)
  octal(header, 136, 12, Math.floor(mtimeMs / 1000))
  header.set(encoder.encode("        "), 148) // the checksum counts its own field as spaces
  header[156] = "0".charCodeAt(0)
  header.set(encoder.encode("ustar\u000000"), 257)
  const checksum = header.reduce((sum, byte) => sum + byte, 0)
  header.set(encoder.encode(`${checksum.toString(8).padStart(6, "0")}\u0000 `), 148)
  // The data padded to whole blocks, then two zero blocks to end the archive.
  const archive = new Uint8Array(block + Math.ceil(bytes.byteLength / block) * block + 2 * block)
  archive.set(header, 0)
  archive.set(bytes, block)
  return archive
}
