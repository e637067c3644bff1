import { TransshipError } from '../errors.js'

/**
 * One entry of a directory tree as transship's helper program saw it (`lstat`), enough to
 * tell whether it changed since: a scan record, or the PAX records of the entry it packed.
 * Paths and link targets are raw bytes as latin1 characters, relative to the tree's root
 * (the root itself is `.`).
 */
export interface TreeEntry {
  readonly path: string
  /** The tar type flag: `0` file, `2` symlink, `3`/`4` device, `5` directory, `6` FIFO. */
  readonly type: string
  /** Permission bits, setuid, setgid and sticky included. */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  /** `<seconds>.<nanoseconds>`, as the helper prints it. */
  readonly mtime: string
  /** `<seconds>.<nanoseconds>`: changes with every write, chmod, chown, link or utime. */
  readonly ctime: string
  /** The inode number, as text (64 bits). */
  readonly ino: string
  readonly nlink: number
  /**
   * The entry changed within two seconds of its `lstat`: a change in the same clock tick
   * might not move its ctime again, so the next round sends it whatever the scan says.
   */
  readonly racy: boolean
  /** A regular file's content sha256, when the tree is compared by content (`--checksum`). */
  readonly sha256?: string
}

const TYPES = new Set(['0', '2', '3', '4', '5', '6'])
const TIME = /^-?\d+\.\d{9}$/
const SHA256 = /^[0-9a-f]{64}$/

/**
 * Parses the records `transship-helper scan` writes, NUL-terminated:
 * `<type> <mode> <uid> <gid> <size> <mtime> <ctime> <ino> <nlink> <racy> [<sha256>] <path>`,
 * the sha256 (`-` for what is not a regular file) only with `--checksum`.
 *
 * @param record - one record, without its NUL, as latin1 characters.
 * @param checksum - whether the scan ran with `--checksum`.
 * @return the entry.
 * @throws TransshipError `HELPER_OUTPUT_INVALID` when the record is malformed.
 */
export function parseScanRecord(record: string, checksum = false): TreeEntry {
  const fields: string[] = []
  let position = 0
  for (let i = 0; i < (checksum ? 11 : 10); i++) {
    const space = record.indexOf(' ', position)
    if (space === -1) throw invalid(record)
    fields.push(record.slice(position, space))
    position = space + 1
  }
  const [type, mode, uid, gid, size, mtime, ctime, ino, nlink, racy, sha256] = fields as [
    string,
    ...string[],
  ]
  if (checksum && !(sha256 === '-' ? type !== '0' : SHA256.test(sha256 ?? '')))
    throw invalid(record)
  return checked(
    {
      path: record.slice(position),
      type,
      mode: Number.parseInt(mode ?? '', 8),
      uid: Number(uid),
      gid: Number(gid),
      size: Number(size),
      mtime: mtime ?? '',
      ctime: ctime ?? '',
      ino: ino ?? '',
      nlink: Number(nlink),
      racy: racy === '1',
      ...(sha256 && sha256 !== '-' ? { sha256 } : {}),
    },
    record,
  )
}

/** A packed archive member: what the tar scanner read of it, and its ustar fields. */
export interface PackedMember {
  readonly name: string
  readonly type: string
  readonly size: number
  readonly sparseSize?: number
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly pax: ReadonlyMap<string, string>
}

/**
 * The tree entry a packed archive member describes, from the PAX records the helper
 * writes for every member (`mtime`, `TRANSSHIP.ctime`, `TRANSSHIP.ino`, …). A hard link
 * is the same inode as the member it links to, which came earlier: pass that one's entry.
 *
 * @param member - the member.
 * @param linked - for a hard link, the entry of the member it links to.
 * @return the entry.
 * @throws TransshipError `HELPER_OUTPUT_INVALID` when records are missing or malformed.
 */
export function entryFromPax(member: PackedMember, linked?: TreeEntry): TreeEntry {
  const { pax } = member
  const field = (key: string) => pax.get(key) ?? ''
  const what = `member ${JSON.stringify(member.name)}`
  if (member.type === '1' && linked === undefined) throw invalid(`${what}, a hard link to nothing`)
  const sha256 = linked ? linked.sha256 : pax.get('TRANSSHIP.sha256')
  if (sha256 !== undefined && !SHA256.test(sha256)) throw invalid(`${what}, its sha256`)
  const size =
    linked?.size ??
    member.sparseSize ??
    (member.type === '2' ? Buffer.byteLength(field('linkpath'), 'latin1') : member.size)
  return checked(
    {
      path: member.name,
      type: member.type === '1' ? '0' : member.type,
      mode: member.mode,
      uid: member.uid,
      gid: member.gid,
      size,
      mtime: field('mtime'),
      ctime: field('TRANSSHIP.ctime'),
      ino: field('TRANSSHIP.ino'),
      nlink: Number(field('TRANSSHIP.nlink')),
      racy: field('TRANSSHIP.racy') === '1',
      ...(sha256 ? { sha256 } : {}),
    },
    what,
  )
}

/** Whether a packed member is a deletion (the path is gone at the source). */
export function isDeletion(pax: ReadonlyMap<string, string>): boolean {
  return pax.get('TRANSSHIP.deleted') === '1'
}

function checked(entry: TreeEntry, what: string): TreeEntry {
  const numbers = [entry.mode, entry.uid, entry.gid, entry.size, entry.nlink]
  const valid =
    entry.path !== '' &&
    TYPES.has(entry.type) &&
    numbers.every((n) => Number.isSafeInteger(n) && n >= 0) &&
    TIME.test(entry.mtime) &&
    TIME.test(entry.ctime) &&
    /^\d+$/.test(entry.ino)
  if (!valid) throw invalid(what)
  return entry
}

function invalid(what: string): TransshipError {
  const shown = what.length > 200 ? `${what.slice(0, 200)}…` : what
  return new TransshipError(
    'HELPER_OUTPUT_INVALID',
    `transship-helper wrote what cannot be read: ${JSON.stringify(shown)}`,
  )
}
