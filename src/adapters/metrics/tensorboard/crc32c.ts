/**
 * CRC-32C (Castagnoli), the checksum TFRecord framing uses. Node has CRC-32 (`zlib.crc32`,
 * another polynomial) but no CRC-32C, and no kept npm package is worth a dependency for
 * twenty lines: a 256-entry table over the reflected polynomial 0x82F63B78.
 */
const table = (() => {
  const entries = new Uint32Array(256)
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
    entries[byte] = crc
  }
  return entries
})()

/** The CRC-32C of `bytes`, as an unsigned 32-bit number. */
export const crc32c = (bytes: Uint8Array): number => {
  let crc = 0xffffffff
  for (const byte of bytes) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/**
 * The masked CRC TFRecord stores: a CRC of data that holds CRCs is a poor check, so the
 * value is rotated right by 15 bits and offset by a constant.
 */
export const maskedCrc32c = (bytes: Uint8Array): number => {
  const crc = crc32c(bytes)
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0
}
