// Writes tar header blocks the way Go's archive/tar reads them (the Docker engine unpacks
// archives with it): ustar blocks, with a PAX extended header for what does not fit.
// Strings hold raw bytes as latin1 characters, as the tar readers here give them.

import { BLOCK_SIZE } from './tarHeader.js'

/** The fields of one archive member's header. */
export interface TarEntryFields {
  /** The name, raw bytes as latin1 characters; a directory's ends with `/`. */
  readonly name: string
  /** The type flag: `'0'` file, `'1'` hard link, `'2'` symlink, `'3'` char device, `'5'` directory, … */
  readonly type: string
  readonly mode?: number
  readonly uid?: number
  readonly gid?: number
  /** The data's byte count (0 for types without data). */
  readonly size?: number
  /** Modification time, in seconds since the epoch. */
  readonly mtime?: number
  readonly linkname?: string
  readonly uname?: string
  readonly gname?: string
  readonly devmajor?: number
  readonly devminor?: number
  /** PAX records to carry besides those the fields need (e.g. `SCHILY.xattr.*`). */
  readonly pax?: ReadonlyMap<string, string>
}

const NAME_SIZE = 100
// The largest value an octal field of `width` bytes holds (digits, then a NUL).
const octalLimit = (width: number) => 8 ** (width - 1) - 1

/**
 * Encodes a member's header: a ustar block, preceded by a PAX extended header when a name,
 * a link target or a number does not fit its field, or when `pax` records are given. The
 * data (for a file, `size` bytes padded with {@link padding}) is the caller's to write.
 *
 * ## Example
 * ```ts
 * const whiteout = encodeTarHeader({ name: 'etc/.wh.group', type: '0', mode: 0o600 })
 * ```
 *
 * @param fields - the header's fields; numbers default to 0, names to empty.
 * @return the header blocks, ready to write.
 */
export function encodeTarHeader(fields: TarEntryFields): Buffer {
  const records = new Map(fields.pax)
  const block = Buffer.alloc(BLOCK_SIZE)
  writeName(block, fields.name, records, 'path')
  writeNumber(block, 100, 8, fields.mode ?? 0)
  writeOrRecord(block, 108, 8, fields.uid ?? 0, records, 'uid')
  writeOrRecord(block, 116, 8, fields.gid ?? 0, records, 'gid')
  writeOrRecord(block, 124, 12, fields.size ?? 0, records, 'size')
  writeOrRecord(block, 136, 12, Math.max(0, Math.floor(fields.mtime ?? 0)), records, 'mtime')
  block.write(fields.type, 156, 1, 'latin1')
  writeLinkname(block, fields.linkname ?? '', records)
  block.write('ustar\x0000', 257, 8, 'latin1')
  writeText(block, 265, 32, fields.uname ?? '', records, 'uname')
  writeText(block, 297, 32, fields.gname ?? '', records, 'gname')
  writeNumber(block, 329, 8, fields.devmajor ?? 0)
  writeNumber(block, 337, 8, fields.devminor ?? 0)
  setChecksum(block)
  return records.size === 0 ? block : Buffer.concat([encodePaxHeader(records), block])
}

/**
 * Encodes a PAX extended header (`x`) and its padded data.
 *
 * @param records - keywords and values, raw bytes as latin1 characters.
 * @return the header block and its data, padded to whole blocks.
 */
export function encodePaxHeader(records: ReadonlyMap<string, string>): Buffer {
  const data = Buffer.concat([...records].map(([keyword, value]) => paxRecord(keyword, value)))
  const block = Buffer.alloc(BLOCK_SIZE)
  block.write('././@PaxHeader', 0, 'latin1')
  writeNumber(block, 100, 8, 0o644)
  writeNumber(block, 108, 8, 0)
  writeNumber(block, 116, 8, 0)
  writeNumber(block, 124, 12, data.length)
  writeNumber(block, 136, 12, 0)
  block.write('x', 156, 1, 'latin1')
  block.write('ustar\x0000', 257, 8, 'latin1')
  setChecksum(block)
  return Buffer.concat([block, data, Buffer.alloc(padding(data.length))])
}

/** The two zero blocks that end an archive (a new buffer each time). */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK_SIZE)
}

/** The zero bytes that pad `size` bytes of data to a whole number of blocks. */
export function padding(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE
}

/** Writes a name into a header block's name field, or into a `path` record when too long. */
export function writeName(
  block: Buffer,
  name: string,
  records: Map<string, string>,
  keyword: 'path',
): void {
  block.fill(0, 0, NAME_SIZE)
  if (name.length > NAME_SIZE) records.set(keyword, name)
  else records.delete(keyword)
  block.write(name.slice(0, NAME_SIZE), 0, NAME_SIZE, 'latin1')
}

/** Writes a link target into the linkname field, or into a `linkpath` record when too long. */
export function writeLinkname(block: Buffer, linkname: string, records: Map<string, string>) {
  block.fill(0, 157, 157 + NAME_SIZE)
  if (linkname.length > NAME_SIZE) records.set('linkpath', linkname)
  else records.delete('linkpath')
  block.write(linkname.slice(0, NAME_SIZE), 157, NAME_SIZE, 'latin1')
}

/** Writes a number as octal digits and a NUL; `value` must fit. */
export function writeNumber(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1')
}

/** Writes a number into its field, or into a PAX record (and 0 in the field) when too big. */
export function writeOrRecord(
  block: Buffer,
  offset: number,
  width: number,
  value: number,
  records: Map<string, string>,
  keyword: string,
): void {
  if (value > octalLimit(width)) {
    records.set(keyword, String(value))
    writeNumber(block, offset, width, 0)
  } else {
    records.delete(keyword)
    writeNumber(block, offset, width, value)
  }
}

function writeText(
  block: Buffer,
  offset: number,
  width: number,
  value: string,
  records: Map<string, string>,
  keyword: string,
): void {
  block.fill(0, offset, offset + width)
  if (value.length >= width) records.set(keyword, value)
  else block.write(value, offset, width, 'latin1')
}

/** Sets a header block's checksum: the sum of its bytes, the field counting as spaces. */
export function setChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156)
  let sum = 0
  for (let i = 0; i < BLOCK_SIZE; i++) sum += block[i] as number
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
}

/** One PAX record, `"<length> <keyword>=<value>\n"`, its length counting itself. */
function paxRecord(keyword: string, value: string): Buffer {
  const body = Buffer.from(` ${keyword}=${value}\n`, 'latin1')
  let length = body.length + 1
  while (String(length).length + body.length !== length) {
    length = String(length).length + body.length
  }
  return Buffer.concat([Buffer.from(String(length), 'latin1'), body])
}
