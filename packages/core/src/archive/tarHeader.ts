// Reads a tar header block the way Go's archive/tar reader does (the Docker engine unpacks
// archives with it), so that what is checked here is what the engine will extract.

/** The tar block size: headers and data are laid out in 512-byte blocks. */
export const BLOCK_SIZE = 512

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE)

/** An archive that cannot be followed: a malformed header, or a format that is not supported. */
export class TarFormatError extends Error {
  override name = 'TarFormatError'
}

/**
 * A header block's fields that decide where an entry goes and how long it is. Strings hold
 * the raw bytes as latin1 characters, so they compare byte for byte, like the engine's.
 */
export interface TarHeader {
  /** The type flag, e.g. `'0'` file, `'2'` symlink, `'x'` PAX, `'L'` GNU long name, `'\0'`. */
  readonly typeflag: string
  /** The name, with the ustar prefix applied. */
  readonly name: string
  /** The link target. */
  readonly linkname: string
  /** The size field: the data's byte count, except for types that have no data. */
  readonly size: number
  /** Permission bits, setuid, setgid and sticky included. */
  readonly mode: number
  readonly uid: number
  readonly gid: number
}

/** Whether the block is all zeros, as the two blocks that end an archive are. */
export function isZeroBlock(block: Buffer): boolean {
  return block[0] === 0 && block.equals(ZERO_BLOCK)
}

/**
 * Parses a header block, checking its checksum and numeric fields.
 *
 * @param block - 512 bytes, not all zeros.
 * @return the header's fields.
 * @throws TarFormatError when the block is not a valid header.
 */
export function parseTarHeader(block: Buffer): TarHeader {
  verifyChecksum(block)
  const format = formatOf(block)
  const size = numeric(block, 124, 12, 'size')
  if (size < 0 || !Number.isSafeInteger(size)) {
    throw new TarFormatError(`its size ${size} is invalid`)
  }
  const mode = numeric(block, 100, 8, 'mode') & 0o7777
  const uid = numeric(block, 108, 8, 'uid')
  const gid = numeric(block, 116, 8, 'gid')
  numeric(block, 136, 12, 'mtime')
  if (format !== 'v7') {
    numeric(block, 329, 8, 'devmajor')
    numeric(block, 337, 8, 'devminor')
  }
  const name = text(block, 0, 100)
  const prefix = prefixOf(block, format)
  return {
    typeflag: String.fromCharCode(block[156] ?? 0),
    name: prefix === '' ? name : `${prefix}/${name}`,
    linkname: text(block, 157, 100),
    size,
    mode,
    uid,
    gid,
  }
}

/** The bytes up to the first NUL, as latin1 characters. */
export function text(buffer: Buffer, offset: number, length: number): string {
  const nul = buffer.indexOf(0, offset)
  const end = nul === -1 || nul > offset + length ? offset + length : nul
  return buffer.toString('latin1', offset, end)
}

type Format = 'ustar' | 'star' | 'gnu' | 'v7'

function formatOf(block: Buffer): Format {
  const magic = block.toString('latin1', 257, 263)
  if (magic === 'ustar\0') {
    return block.toString('latin1', 508, 512) === 'tar\0' ? 'star' : 'ustar'
  }
  if (magic === 'ustar ' && block.toString('latin1', 263, 265) === ' \0') return 'gnu'
  return 'v7'
}

/** The name prefix: ustar and star have one, GNU and v7 do not. */
function prefixOf(block: Buffer, format: Format): string {
  switch (format) {
    case 'ustar':
      return text(block, 345, 155)
    case 'star':
      numeric(block, 476, 12, 'atime')
      numeric(block, 488, 12, 'ctime')
      return text(block, 345, 131)
    case 'gnu':
      // When a GNU header's atime or ctime does not parse, Go takes it for one written by Go
      // before 1.8 and reads a ustar prefix there; such a header is refused here instead.
      if (block[345] !== 0) numeric(block, 345, 12, 'atime')
      if (block[357] !== 0) numeric(block, 357, 12, 'ctime')
      return ''
    case 'v7':
      return ''
  }
}

/** Both the unsigned and the historical signed sum are accepted, as Go and GNU tar do. */
function verifyChecksum(block: Buffer): void {
  const recorded = octal(block, 148, 8, 'checksum')
  // The checksum field counts as eight spaces.
  let unsigned = 8 * 0x20
  let high = 0 // bytes that count negative in the signed sum
  for (let i = 0; i < BLOCK_SIZE; i++) {
    if (i === 148) i = 156
    const byte = block[i] as number
    unsigned += byte
    high += byte >> 7
  }
  if (recorded !== unsigned && recorded !== unsigned - 0x100 * high) {
    throw new TarFormatError(
      `its checksum ${recorded} does not match its bytes, which sum to ${unsigned}`,
    )
  }
}

/** A numeric field: octal text, or base-256 when its first byte has the high bit set. */
function numeric(block: Buffer, offset: number, length: number, field: string): number {
  return (block[offset] ?? 0) & 0x80
    ? base256(block, offset, length, field)
    : octal(block, offset, length, field)
}

/** Octal digits, with leading and trailing spaces and NULs ignored; empty is 0. */
function octal(block: Buffer, offset: number, length: number, field: string): number {
  let start = offset
  let end = offset + length
  while (start < end && (block[start] === 0x20 || block[start] === 0)) start++
  while (end > start && (block[end - 1] === 0x20 || block[end - 1] === 0)) end--
  let value = 0
  for (let i = start; i < end; i++) {
    const digit = (block[i] as number) - 0x30
    if (digit === -0x30) break // a NUL ends the digits, as in Go
    if (digit < 0 || digit > 7) {
      throw new TarFormatError(`its ${field} field is not an octal number`)
    }
    value = value * 8 + digit
  }
  return value
}

/** A big-endian two's complement number in the bits after the marker bit, up to 64 bits. */
function base256(block: Buffer, offset: number, length: number, field: string): number {
  const negative = ((block[offset] ?? 0) & 0x40) !== 0
  let value = 0n
  for (let i = 0; i < length; i++) {
    let byte = block[offset + i] ?? 0
    if (negative) byte ^= 0xff
    if (i === 0) byte &= 0x7f
    value = (value << 8n) | BigInt(byte)
  }
  if (value >> 63n !== 0n) {
    throw new TarFormatError(`its ${field} field overflows 64 bits`)
  }
  return Number(negative ? -value - 1n : value)
}
