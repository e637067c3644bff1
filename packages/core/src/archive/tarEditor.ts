import { Transform, type TransformCallback } from 'node:stream'
import { TransshipError } from '../errors.js'
import { parsePaxRecords } from './paxRecords.js'
import { BLOCK_SIZE, isZeroBlock, parseTarHeader, TarFormatError, text } from './tarHeader.js'
import {
  encodePaxHeader,
  endOfArchive,
  padding,
  setChecksum,
  writeLinkname,
  writeName,
  writeNumber,
  writeOrRecord,
} from './tarWriter.js'

/** An archive member as the engine will extract it, PAX and GNU extensions applied. */
export interface TarEditEntry {
  /** The type flag, a NUL one resolved: `'0'` file, `'1'` hard link, `'2'` symlink, … */
  readonly type: string
  /** The name, raw bytes as latin1 characters. */
  readonly name: string
  /** The link target, raw bytes as latin1 characters. */
  readonly linkname: string
  /** The data's byte count (0 for the types that have none). */
  readonly size: number
  readonly mode: number
  readonly uid: number
  readonly gid: number
  /** Modification time, in seconds. */
  readonly mtime: number
  readonly uname: string
  readonly gname: string
  readonly devmajor: number
  readonly devminor: number
  /** The PAX records that amend this member (`path`, `SCHILY.xattr.*`, …). */
  readonly pax: ReadonlyMap<string, string>
}

/** What becomes of one member; see {@link TarEditor}. */
export type TarEdit = (
  | { readonly action: 'keep' }
  | { readonly action: 'drop' }
  | {
      /** The member with some of its header changed; its data (if it keeps any) unchanged. */
      readonly action: 'rewrite'
      readonly name?: string
      readonly linkname?: string
      /** A type without data (a link, a device, a directory) drops the member's data. */
      readonly type?: string
      readonly mode?: number
      readonly devmajor?: number
      readonly devminor?: number
      /** PAX records to add, or to remove (`undefined`). */
      readonly pax?: Readonly<Record<string, string | undefined>>
    }
  | {
      /** Other members instead, already encoded; the member's data is dropped. */
      readonly action: 'replace'
      readonly blocks: readonly Buffer[]
    }
) & {
  /** Ends the archive after this member: nothing more of the input is read. */
  readonly last?: boolean
}

/** Options of {@link TarEditor}. */
export interface TarEditorOptions {
  /** Decides each member's fate, in archive order; what it throws stops the edit. */
  readonly edit: (entry: TarEditEntry) => TarEdit
  /** Members to add at the end of the archive, already encoded; asked for once, at the end. */
  readonly append?: () => readonly Buffer[]
  /**
   * Whether to end the output with the end-of-archive marker (default `true`); `false` to
   * concatenate the output with other archives' members.
   */
  readonly terminate?: boolean
}

// Go's limit on the data of PAX and GNU long-name headers.
const MAX_META_SIZE = 1024 * 1024
// Types whose size field is ignored: they have no data (Go's isHeaderOnlyType).
const HEADER_ONLY_TYPES = new Set(['1', '2', '3', '4', '5', '6'])

/**
 * Edits a tar stream member by member without re-packing it: each header (with the PAX and
 * GNU long-name headers that amend it) is parsed as Go's archive/tar parses it, and the
 * member is kept as it was, dropped, given a rewritten header, or replaced; file data goes
 * through untouched, as slices of the input chunks. Members can be added before the
 * end-of-archive marker. A member whose header is rewritten loses its GNU long-name headers
 * (a long name goes into a PAX `path` record) and keeps its other PAX records.
 *
 * ## Example
 * ```ts
 * const editor = new TarEditor({
 *   edit: (entry) => (entry.name.startsWith('skip/') ? { action: 'drop' } : { action: 'keep' }),
 * })
 * for await (const chunk of archive) for (const part of editor.push(chunk)) output.write(part)
 * editor.end()
 * ```
 */
export class TarEditor {
  readonly #options: TarEditorOptions
  /** Bytes of a header split across chunks. */
  #held = Buffer.alloc(BLOCK_SIZE)
  #heldLength = 0
  /** Data bytes (with padding) of the current member still to pass or drop. */
  #data = 0
  #passData = false
  /** Data bytes (with padding) of the current PAX or GNU header still to collect. */
  #meta = 0
  #metaSize = 0
  #metaType = ''
  #collected: Buffer[] = []
  /** The raw PAX and GNU headers (with data) that amend the next member. */
  #pendingRaw: Buffer[] = []
  #pax = new Map<string, string>()
  #longName = ''
  #longLink = ''
  #zeroBlocks = 0
  #lastRequested = false
  #done = false
  #offset = 0
  #headerOffset = 0

  /** @param options - the edit, what to append, whether to end the archive. */
  constructor(options: TarEditorOptions) {
    this.#options = options
  }

  /** Whether the edited archive is complete: the rest of the input is not read. */
  get done(): boolean {
    return this.#done
  }

  /**
   * Edits the next chunk of the input.
   *
   * @return the output's next parts, in order.
   * @throws TarFormatError when the archive cannot be followed; whatever `edit` throws.
   */
  push(chunk: Buffer): Buffer[] {
    try {
      return this.#push(chunk)
    } catch (error) {
      if (!(error instanceof TarFormatError)) throw error
      throw new TarFormatError(`header at byte ${this.#headerOffset}: ${error.message}`)
    }
  }

  /**
   * Checks that the input ended where an archive may end.
   *
   * @throws TarFormatError when the input is truncated or lacks its end-of-archive marker.
   */
  end(): void {
    if (this.#done) return
    if (this.#heldLength > 0 || this.#data > 0 || this.#meta > 0) {
      throw new TarFormatError(`the archive is truncated at byte ${this.#offset}`)
    }
    throw new TarFormatError(`the archive ends at byte ${this.#offset} without its end marker`)
  }

  #push(chunk: Buffer): Buffer[] {
    const output: Buffer[] = []
    let position = 0
    while (position < chunk.length && !this.#done) {
      if (this.#data > 0) {
        const length = Math.min(this.#data, chunk.length - position)
        if (this.#passData) output.push(chunk.subarray(position, position + length))
        this.#data -= length
        position += length
        this.#offset += length
        if (this.#data === 0 && this.#lastRequested) this.#finish(output)
      } else if (this.#meta > 0) {
        const length = Math.min(this.#meta, chunk.length - position)
        // A copy: the chunk may be passed on, or reused by its producer.
        this.#collected.push(Buffer.from(chunk.subarray(position, position + length)))
        this.#meta -= length
        position += length
        this.#offset += length
        if (this.#meta === 0) this.#applyMeta()
      } else if (this.#heldLength === 0 && chunk.length - position >= BLOCK_SIZE) {
        this.#header(chunk.subarray(position, position + BLOCK_SIZE), output)
        position += BLOCK_SIZE
      } else {
        const length = Math.min(BLOCK_SIZE - this.#heldLength, chunk.length - position)
        chunk.copy(this.#held, this.#heldLength, position, position + length)
        this.#heldLength += length
        position += length
        if (this.#heldLength === BLOCK_SIZE) {
          const block = this.#held
          this.#held = Buffer.alloc(BLOCK_SIZE)
          this.#heldLength = 0
          this.#header(block, output)
        }
      }
    }
    return output
  }

  #header(block: Buffer, output: Buffer[]): void {
    this.#headerOffset = this.#offset
    this.#offset += BLOCK_SIZE
    if (isZeroBlock(block)) {
      this.#zeroBlocks++
      if (this.#zeroBlocks === 2) {
        if (this.#pendingRaw.length > 0) {
          throw new TarFormatError('an extended header is followed by the end of the archive')
        }
        this.#finish(output)
      }
      return
    }
    if (this.#zeroBlocks > 0) {
      throw new TarFormatError('it follows a single zero block, not a second one')
    }
    const header = parseTarHeader(block)
    const padded = header.size + padding(header.size)
    switch (header.typeflag) {
      case 'x':
      case 'L':
      case 'K':
        if (header.size > MAX_META_SIZE) {
          throw new TarFormatError(`its ${header.size} bytes of extended header data are too many`)
        }
        // A copy: the block may be a slice of an input chunk.
        this.#pendingRaw.push(Buffer.from(block))
        this.#metaType = header.typeflag
        this.#metaSize = header.size
        this.#meta = padded
        if (padded === 0) this.#applyMeta()
        return
      case 'g':
        // Global PAX headers are passed on; Go forgets pending extensions at one.
        this.#forgetMeta()
        output.push(block)
        this.#passData = true
        this.#data = padded
        return
      case 'S':
        throw new TarFormatError('old GNU sparse entries are not supported')
    }
    for (const keyword of this.#pax.keys()) {
      if (keyword.startsWith('GNU.sparse.')) {
        throw new TarFormatError('GNU sparse entries are not supported')
      }
    }
    const entry = this.#entry(block, header.typeflag, header.name, header.linkname, header.size)
    const edit = this.#options.edit(entry)
    const dataSize = entry.size + padding(entry.size)
    switch (edit.action) {
      case 'keep':
        output.push(...this.#pendingRaw, block)
        this.#passData = true
        break
      case 'drop':
        this.#passData = false
        break
      case 'rewrite': {
        const rewritten = rewriteHeader(block, entry, edit)
        output.push(...rewritten.blocks)
        this.#passData = rewritten.keepsData
        break
      }
      case 'replace':
        output.push(...edit.blocks)
        this.#passData = false
        break
    }
    this.#forgetMeta()
    this.#data = dataSize
    this.#lastRequested = edit.last === true
    if (dataSize === 0 && this.#lastRequested) this.#finish(output)
  }

  #entry(
    block: Buffer,
    typeflag: string,
    headerName: string,
    headerLinkname: string,
    headerSize: number,
  ): TarEditEntry {
    // An empty extension value keeps the header's own, as in Go.
    const name = this.#longName || this.#pax.get('path') || headerName
    const linkname = this.#longLink || this.#pax.get('linkpath') || headerLinkname
    const type = typeflag === '\0' ? (name.endsWith('/') ? '5' : '0') : typeflag
    const size = HEADER_ONLY_TYPES.has(type) ? 0 : (this.#paxNumber('size') ?? headerSize)
    return {
      type,
      name,
      linkname,
      size,
      mode: readNumber(block, 100, 8),
      uid: this.#paxNumber('uid') ?? readNumber(block, 108, 8),
      gid: this.#paxNumber('gid') ?? readNumber(block, 116, 8),
      mtime: Math.floor(Number(this.#pax.get('mtime') ?? readNumber(block, 136, 12))),
      uname: this.#pax.get('uname') ?? text(block, 265, 32),
      gname: this.#pax.get('gname') ?? text(block, 297, 32),
      devmajor: readNumber(block, 329, 8),
      devminor: readNumber(block, 337, 8),
      pax: this.#pax,
    }
  }

  #paxNumber(keyword: string): number | undefined {
    const value = this.#pax.get(keyword)
    if (!value) return undefined
    const number = Number(value)
    if (!/^\+?\d+$/.test(value) || !Number.isSafeInteger(number)) {
      throw new TarFormatError(`its PAX ${keyword} ${JSON.stringify(value)} is invalid`)
    }
    return number
  }

  #applyMeta(): void {
    const padded = Buffer.concat(this.#collected)
    this.#collected = []
    this.#pendingRaw.push(padded)
    const data = padded.subarray(0, this.#metaSize)
    if (this.#metaType === 'x') this.#pax = parsePaxRecords(data)
    else if (this.#metaType === 'L') this.#longName = text(data, 0, data.length)
    else this.#longLink = text(data, 0, data.length)
  }

  #forgetMeta(): void {
    this.#pendingRaw = []
    if (this.#pax.size > 0) this.#pax = new Map()
    this.#longName = ''
    this.#longLink = ''
  }

  #finish(output: Buffer[]): void {
    output.push(...(this.#options.append?.() ?? []))
    if (this.#options.terminate !== false) output.push(endOfArchive())
    this.#done = true
  }
}

/**
 * A stream that edits a tar archive with a {@link TarEditor}. Once the archive is complete
 * (its end marker, or a member marked `last`), the rest of the input is consumed unread.
 *
 * ## Example
 * ```ts
 * await pipeline(archive, tarEditStream({ edit: () => ({ action: 'keep' }) }), output)
 * ```
 *
 * @param options - the edit, what to append, whether to end the archive.
 * @param describe - what the archive is, for error messages, e.g. `the layer of web`.
 * @return the stream.
 * @throws TransshipError `UNSAFE_ARCHIVE` (as the stream's error) when the archive cannot
 *   be followed; whatever `edit` throws.
 */
export function tarEditStream(options: TarEditorOptions, describe: string): Transform {
  const editor = new TarEditor(options)
  const failure = (error: unknown) =>
    error instanceof TarFormatError
      ? new TransshipError('UNSAFE_ARCHIVE', `cannot read ${describe}: ${error.message}`, {
          cause: error,
        })
      : (error as Error)
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (editor.done) {
        callback()
        return
      }
      try {
        for (const part of editor.push(chunk)) this.push(part)
      } catch (error) {
        callback(failure(error))
        return
      }
      callback()
    },
    flush(callback: TransformCallback) {
      try {
        editor.end()
      } catch (error) {
        callback(failure(error))
        return
      }
      callback()
    },
  })
}

/** A member's header with an edit applied, and whether its data follows it. */
function rewriteHeader(
  original: Buffer,
  entry: TarEditEntry,
  edit: Extract<TarEdit, { action: 'rewrite' }>,
): { blocks: Buffer[]; keepsData: boolean } {
  const block = Buffer.from(original)
  const records = new Map(entry.pax)
  for (const [keyword, value] of Object.entries(edit.pax ?? {})) {
    if (value === undefined) records.delete(keyword)
    else records.set(keyword, value)
  }
  const type = edit.type ?? entry.type
  const keepsData = !HEADER_ONLY_TYPES.has(type) && entry.size > 0
  writeName(block, edit.name ?? entry.name, records, 'path')
  writeLinkname(block, edit.linkname ?? entry.linkname, records)
  block.write(type, 156, 1, 'latin1')
  writeOrRecord(block, 124, 12, keepsData ? entry.size : 0, records, 'size')
  if (edit.mode !== undefined) writeNumber(block, 100, 8, edit.mode)
  if (block.toString('latin1', 257, 265) !== 'ustar  \0') {
    // Anything but a GNU header becomes ustar, without a name prefix: names that do not fit
    // the name field went into a PAX record. (A GNU header has no prefix field there.)
    block.write('ustar\x0000', 257, 8, 'latin1')
    block.fill(0, 345, 500)
  }
  if (edit.devmajor !== undefined) writeNumber(block, 329, 8, edit.devmajor)
  if (edit.devminor !== undefined) writeNumber(block, 337, 8, edit.devminor)
  setChecksum(block)
  const blocks = records.size > 0 ? [encodePaxHeader(records), block] : [block]
  return { blocks, keepsData }
}

/** A numeric field: octal text, or base-256 when its first byte has the high bit set. */
function readNumber(block: Buffer, offset: number, length: number): number {
  const first = block[offset] ?? 0
  if (first & 0x80) {
    let value = 0
    for (let i = 0; i < length; i++) {
      const byte = i === 0 ? first & 0x7f : (block[offset + i] ?? 0)
      value = value * 256 + byte
    }
    return value
  }
  const digits = text(block, offset, length).trim()
  return digits === '' ? 0 : Number.parseInt(digits, 8) || 0
}
