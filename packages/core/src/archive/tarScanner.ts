import { parsePaxRecords } from './paxRecords.js'
import { BLOCK_SIZE, isZeroBlock, parseTarHeader, TarFormatError, text } from './tarHeader.js'

/** An archive member as the engine will extract it, PAX and GNU extensions applied. */
export interface TarEntry {
  /** The type flag: `'0'` file, `'1'` hard link, `'2'` symlink, `'5'` directory, `'6'` FIFO, … */
  readonly type: string
  /** The name, raw bytes as latin1 characters. */
  readonly name: string
  /** The link target, raw bytes as latin1 characters. */
  readonly linkname: string
  /** Its data's byte count: 0 for the types that have none (links, directories, FIFOs, …). */
  readonly size: number
  /**
   * Stream offset of its first header block: the PAX or GNU long-name header that amends
   * it, when there is one. The entry ends at `dataOffset + size`, rounded up to a block.
   */
  readonly offset: number
  /** Stream offset of its data, right after its own header block. */
  readonly dataOffset: number
  /** Permission bits, setuid, setgid and sticky included. */
  readonly mode: number
  /** Owner, PAX records applied. */
  readonly uid: number
  readonly gid: number
  /** The PAX records that amend it (empty when none), raw bytes as latin1 characters. */
  readonly pax: ReadonlyMap<string, string>
  /**
   * For a sparse file (PAX format 1.0, only with {@link TarScannerOptions.sparse}): its real
   * size. Its data then starts with the map of its regions.
   */
  readonly sparseSize?: number
}

/** What a {@link TarScanner} accepts beyond what the Docker engine's extraction does. */
export interface TarScannerOptions {
  /**
   * Accept sparse files in GNU tar's PAX format 1.0 (the name is `GNU.sparse.name`), as
   * transship's helper writes them; other GNU sparse forms are always refused.
   */
  readonly sparse?: boolean
}

// Go's limit on the data of PAX and GNU long-name headers.
const MAX_META_SIZE = 1024 * 1024
// The end-of-archive marker and what follows it are held in memory: GNU tar pads to a
// 10 KiB record; the Docker engine adds nothing.
const MAX_TRAILER_SIZE = 1024 * 1024
// Types whose size field is ignored: they have no data (Go's isHeaderOnlyType).
const HEADER_ONLY_TYPES = new Set(['1', '2', '3', '4', '5', '6'])

/**
 * Follows a tar stream's framing chunk by chunk: parses each header (and the PAX and GNU
 * long-name data that amend the next one) and steps over file data without looking at it.
 * Reports each entry before any byte of its header is released for forwarding. Holds back
 * the end-of-archive marker until the stream has ended, so that a consumer never sees a
 * complete archive from a stream that then fails.
 */
export class TarScanner {
  readonly #onEntry: (entry: TarEntry) => void
  readonly #sparse: boolean
  /** Bytes of a header split across chunks, held back until it is complete and checked. */
  #held = Buffer.alloc(BLOCK_SIZE)
  #heldLength = 0
  /** Data and padding bytes to step over before the next header. */
  #skip = 0
  /** Data bytes of the current PAX or GNU long-name header still to collect. */
  #collect = 0
  #collected: Buffer[] = []
  #metaType = ''
  #pax = new Map<string, string>()
  #longName = ''
  #longLink = ''
  /** Stream offset of the first PAX or GNU long-name header amending the next entry. */
  #metaOffset: number | undefined
  #zeroBlocks = 0
  /** The end-of-archive marker and whatever follows it. */
  #trailer: Buffer[] = []
  #trailerLength = 0
  /** Stream offsets of the last header and of the next one, for messages. */
  #headerOffset = 0
  #offset = 0

  /**
   * @param onEntry - called with each entry; what it throws stops the scan.
   * @param options - what else to accept.
   */
  constructor(onEntry: (entry: TarEntry) => void, options: TarScannerOptions = {}) {
    this.#onEntry = onEntry
    this.#sparse = options.sparse ?? false
  }

  /**
   * Scans the next chunk of the stream.
   *
   * @return the parts of the stream that are checked and may be forwarded, in order.
   * @throws TarFormatError when the archive cannot be followed; whatever `onEntry` throws.
   */
  scan(chunk: Buffer): Buffer[] {
    try {
      return this.#scan(chunk)
    } catch (error) {
      if (!(error instanceof TarFormatError)) throw error
      throw new TarFormatError(`header at byte ${this.#headerOffset}: ${error.message}`)
    }
  }

  #scan(chunk: Buffer): Buffer[] {
    const checked: Buffer[] = []
    // Checked bytes go out now, up to the end-of-archive marker, and into the trailer after.
    const release = (part: Buffer) => {
      if (this.#zeroBlocks === 0) {
        checked.push(part)
        return
      }
      this.#trailerLength += part.length
      if (this.#trailerLength > MAX_TRAILER_SIZE) {
        throw new TarFormatError('more than 1 MiB follows the end-of-archive marker')
      }
      this.#trailer.push(part)
    }
    let position = 0
    let start = 0 // chunk[start, position) is checked and not yet released
    while (position < chunk.length) {
      if (this.#zeroBlocks === 2) {
        // Whatever follows the end-of-archive marker is not read.
        position = chunk.length
      } else if (this.#collect > 0) {
        const length = Math.min(this.#collect, chunk.length - position)
        // A copy: the chunk itself goes downstream.
        this.#collected.push(Buffer.from(chunk.subarray(position, position + length)))
        this.#collect -= length
        position += length
        if (this.#collect === 0) this.#applyMeta()
      } else if (this.#skip > 0) {
        const length = Math.min(this.#skip, chunk.length - position)
        this.#skip -= length
        position += length
      } else if (this.#heldLength === 0 && chunk.length - position >= BLOCK_SIZE) {
        const block = chunk.subarray(position, position + BLOCK_SIZE)
        if (this.#zeroBlocks === 0 && isZeroBlock(block)) {
          if (position > start) release(chunk.subarray(start, position))
          start = position
        }
        this.#header(block)
        position += BLOCK_SIZE
      } else {
        if (position > start) release(chunk.subarray(start, position))
        const length = Math.min(BLOCK_SIZE - this.#heldLength, chunk.length - position)
        chunk.copy(this.#held, this.#heldLength, position, position + length)
        this.#heldLength += length
        position += length
        start = position
        if (this.#heldLength === BLOCK_SIZE) {
          this.#header(this.#held)
          release(this.#held)
          this.#held = Buffer.alloc(BLOCK_SIZE)
          this.#heldLength = 0
        }
      }
    }
    if (position > start) release(chunk.subarray(start, position))
    return checked
  }

  /**
   * Checks that the stream ended where an archive may end.
   *
   * @return the end-of-archive marker and whatever followed it, to forward last.
   * @throws TarFormatError when the archive is truncated or lacks its end-of-archive marker.
   */
  end(): Buffer[] {
    if (this.#zeroBlocks === 2) return this.#trailer
    if (this.#heldLength > 0) {
      throw new TarFormatError(`the archive is truncated in the header at byte ${this.#offset}`)
    }
    if (this.#collect > 0 || this.#skip > 0) {
      throw new TarFormatError(
        `the archive is truncated in the entry at byte ${this.#headerOffset}`,
      )
    }
    throw new TarFormatError(`the archive ends at byte ${this.#offset} without its end marker`)
  }

  #header(block: Buffer): void {
    this.#headerOffset = this.#offset
    if (isZeroBlock(block)) {
      this.#zeroBlocks++
      this.#offset += BLOCK_SIZE
      return
    }
    if (this.#zeroBlocks > 0) {
      throw new TarFormatError('it follows a single zero block, not a second one')
    }
    const header = parseTarHeader(block)
    switch (header.typeflag) {
      case 'x':
      case 'L':
      case 'K':
        if (header.size > MAX_META_SIZE) {
          throw new TarFormatError(`its ${header.size} bytes of extended header data are too many`)
        }
        this.#metaType = header.typeflag
        this.#metaOffset ??= this.#headerOffset
        this.#collect = header.size
        this.#advance(header.size)
        if (header.size === 0) this.#applyMeta()
        return
      case 'g':
        // Global PAX headers are ignored by the engine. Go forgets pending extensions here.
        this.#forgetMeta()
        this.#advance(header.size)
        return
      case 'S':
        throw new TarFormatError('old GNU sparse entries are not supported')
    }
    const sparseSize = this.#sparseSize()
    // An empty extension value keeps the header's own, as in Go.
    const sparseName = sparseSize === undefined ? undefined : this.#pax.get('GNU.sparse.name')
    const name = sparseName || this.#longName || this.#pax.get('path') || header.name
    const linkname = this.#longLink || this.#pax.get('linkpath') || header.linkname
    const size = this.#paxSize() ?? header.size
    // A NUL type flag is a file, or a directory when the name ends with '/'.
    const legacyType = name.endsWith('/') ? '5' : '0'
    const type = header.typeflag === '\0' ? legacyType : header.typeflag
    const offset = this.#metaOffset ?? this.#headerOffset
    const dataSize = HEADER_ONLY_TYPES.has(type) ? 0 : size
    const pax = this.#pax
    this.#forgetMeta()
    this.#onEntry({
      type,
      name,
      linkname,
      size: dataSize,
      offset,
      dataOffset: this.#headerOffset + BLOCK_SIZE,
      mode: header.mode,
      uid: paxId(pax, 'uid') ?? header.uid,
      gid: paxId(pax, 'gid') ?? header.gid,
      pax,
      ...(sparseSize === undefined ? {} : { sparseSize }),
    })
    this.#advance(dataSize)
  }

  /** The real size of a PAX 1.0 sparse file, when sparse files are accepted; refuses others. */
  #sparseSize(): number | undefined {
    const keywords = [...this.#pax.keys()].filter((keyword) => keyword.startsWith('GNU.sparse.'))
    if (keywords.length === 0) return undefined
    const pax = this.#pax
    const format1 = pax.get('GNU.sparse.major') === '1' && pax.get('GNU.sparse.minor') === '0'
    const known = ['major', 'minor', 'name', 'realsize'].map((key) => `GNU.sparse.${key}`)
    if (!this.#sparse || !format1 || keywords.some((keyword) => !known.includes(keyword))) {
      throw new TarFormatError('GNU sparse entries are not supported')
    }
    const value = pax.get('GNU.sparse.realsize') ?? ''
    const size = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(size) || !pax.get('GNU.sparse.name')) {
      throw new TarFormatError('its GNU sparse name or real size is missing or invalid')
    }
    return size
  }

  #paxSize(): number | undefined {
    const value = this.#pax.get('size')
    if (!value) return undefined
    const size = Number(value)
    if (!/^\+?\d+$/.test(value) || !Number.isSafeInteger(size)) {
      throw new TarFormatError(`its PAX size ${JSON.stringify(value)} is invalid`)
    }
    return size
  }

  /** Moves past the header and `size` data bytes with their padding to the next block. */
  #advance(size: number): void {
    const padded = Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE
    this.#offset += BLOCK_SIZE + padded
    this.#skip = padded - this.#collect
  }

  #applyMeta(): void {
    const data = Buffer.concat(this.#collected)
    this.#collected = []
    if (this.#metaType === 'x') this.#pax = parsePaxRecords(data)
    else if (this.#metaType === 'L') this.#longName = text(data, 0, data.length)
    else this.#longLink = text(data, 0, data.length)
  }

  #forgetMeta(): void {
    if (this.#pax.size > 0) this.#pax = new Map()
    this.#longName = ''
    this.#longLink = ''
    this.#metaOffset = undefined
  }
}

/** A PAX `uid` or `gid` record's value, when there is one. */
function paxId(pax: ReadonlyMap<string, string>, keyword: 'uid' | 'gid'): number | undefined {
  const value = pax.get(keyword)
  if (!value) return undefined
  const id = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(id)) {
    throw new TarFormatError(`its PAX ${keyword} ${JSON.stringify(value)} is invalid`)
  }
  return id
}
