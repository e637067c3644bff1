import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  type BigIntStats,
  chmodSync,
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { arch, tmpdir } from 'node:os'
import { join } from 'node:path'
import { HELPER_SOURCE_DIR, helperBinaryPath } from '../src/index.js'

/**
 * Builds the helper (once a source changed) and returns its path; TRANSSHIP_HELPER_BINARY
 * runs the tests against another build instead (e.g. a script that runs the aarch64 build
 * under qemu-aarch64-static).
 */
export function buildHelper(): string {
  const other = process.env.TRANSSHIP_HELPER_BINARY
  if (other) return other
  execFileSync('sh', [join(HELPER_SOURCE_DIR, '..', 'build.sh')], { stdio: 'inherit' })
  return helperBinaryPath(arch() === 'arm64' ? 'aarch64' : 'x86_64')
}

/** A temporary directory, removed by the returned function. */
export function scratchDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `transship-helper-${prefix}-`))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface Run {
  status: number | null
  stdout: Buffer
  stderr: string
}

/** Runs a command to its end, with `input` (if any) as its whole stdin. */
export function run(cmd: string, args: string[], input?: Buffer | string): Run {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() }
}

/** Runs a command with stdout into a file (large archives stay out of memory). */
export function runToFile(cmd: string, args: string[], file: string): Run {
  const fd = openSync(file, 'w')
  try {
    const r = spawnSync(cmd, args, { stdio: ['ignore', fd, 'pipe'] })
    if (r.error) throw r.error
    return { status: r.status, stdout: Buffer.alloc(0), stderr: r.stderr.toString() }
  } finally {
    closeSync(fd)
  }
}

/** Runs a command with a file as its stdin. */
export function runFromFile(cmd: string, args: string[], file: string): Run {
  const fd = openSync(file, 'r')
  try {
    const r = spawnSync(cmd, args, { stdio: [fd, 'pipe', 'pipe'], maxBuffer: 1 << 30 })
    if (r.error) throw r.error
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() }
  } finally {
    closeSync(fd)
  }
}

/**
 * Writes `input` to a new process's stdin WITHOUT closing it, and resolves when the process
 * exits by itself (rejects after `timeoutMs`, killing it).
 */
export function runKeepingStdinOpen(
  cmd: string,
  args: string[],
  input: Buffer,
  timeoutMs = 10_000,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.stdin.on('error', () => {}) // the process may exit before reading everything
    child.stdin.write(input)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${cmd} ${args.join(' ')} did not exit with its stdin left open`))
    }, timeoutMs)
    child.on('close', (status) => {
      clearTimeout(timer)
      child.stdin.destroy()
      resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() })
    })
  })
}

/** One scan record, parsed. */
export interface ScanRecord {
  type: string
  mode: number
  uid: number
  gid: number
  size: bigint
  mtime: string
  ctime: string
  ino: bigint
  nlink: number
  racy: boolean
  /** with `--checksum`: the sha256 of a regular file's content, `-` for other types */
  sha256?: string
  path: string
}

/** Parses scan's records: ten fields then the path, eleven with `checksum`. */
export function parseScan(out: Buffer, checksum = false): ScanRecord[] {
  const records: ScanRecord[] = []
  let start = 0
  for (let end = out.indexOf(0, start); end >= 0; end = out.indexOf(0, start)) {
    const rec = out.subarray(start, end)
    start = end + 1
    // ten (eleven) space-separated fields, then the path (which may hold spaces)
    let at = 0
    const fields: string[] = []
    for (let i = 0; i < (checksum ? 11 : 10); i++) {
      const sp = rec.indexOf(32, at)
      if (sp < 0) throw new Error(`scan record with too few fields: ${JSON.stringify(String(rec))}`)
      fields.push(rec.subarray(at, sp).toString())
      at = sp + 1
    }
    const [type, mode, uid, gid, size, mtime, ctime, ino, nlink, racy] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ]
    records.push({
      type,
      mode: Number.parseInt(mode, 8),
      uid: Number(uid),
      gid: Number(gid),
      size: BigInt(size),
      mtime,
      ctime,
      ino: BigInt(ino),
      nlink: Number(nlink),
      racy: racy === '1',
      ...(checksum ? { sha256: fields[10] } : {}),
      path: rec.subarray(at).toString(),
    })
  }
  if (start !== out.length) throw new Error('scan output does not end with a NUL')
  return records
}

/** One member of a pax tar as pack writes it: its ustar type and its 'x' header's records. */
export interface PackedMember {
  /** the real name: `GNU.sparse.name` for a sparse member, else the `path` record */
  name: string
  type: string
  pax: Map<string, string>
}

/** The members of a pax tar (the 'x' headers folded into the member they precede). */
export function packedMembers(tar: Buffer): PackedMember[] {
  const members: PackedMember[] = []
  let pax = new Map<string, string>()
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512)
    if (header.every((b) => b === 0)) break
    const type = String.fromCharCode(header[156] ?? 0)
    let size = Number.parseInt(header.subarray(124, 136).toString().replace(/\0.*$/, ''), 8)
    if (type !== 'x' && pax.has('size')) size = Number(pax.get('size'))
    const data = tar.subarray(at + 512, at + 512 + size)
    at += 512 + Math.ceil(size / 512) * 512
    if (type === 'x') {
      for (let i = 0; i < data.length; ) {
        const space = data.indexOf(32, i)
        const len = Number(data.subarray(i, space).toString())
        const record = data.subarray(space + 1, i + len - 1).toString('latin1')
        const eq = record.indexOf('=')
        pax.set(record.slice(0, eq), record.slice(eq + 1))
        i += len
      }
      continue
    }
    const name = pax.get('GNU.sparse.name') ?? pax.get('path') ?? ''
    members.push({ name: Buffer.from(name, 'latin1').toString(), type, pax })
    pax = new Map()
  }
  return members
}

/** The sha256 of a file as coreutils' sha256sum computes it. */
export function sha256sum(file: string): string {
  // a name with a newline or a backslash makes sha256sum start its line with a backslash
  const line = execFileSync('sha256sum', ['-b', '--', file], { encoding: 'latin1' })
  return line.replace(/^\\/, '').slice(0, 64)
}

/** "<sec>.<9 digits>" (sec = floor) of a nanosecond timestamp. */
export function floorTime(ns: bigint): string {
  let s = ns / 1_000_000_000n
  let n = ns % 1_000_000_000n
  if (n < 0n) {
    s -= 1n
    n += 1_000_000_000n
  }
  return `${s}.${n.toString().padStart(9, '0')}`
}

export interface ListOptions {
  /** compare symlinks' own mtimes (GNU tar does not set them) */
  symlinkTimes?: boolean
  /** include extended attributes (user.* and trusted.*) */
  xattrs?: boolean
  /** compare directories' mtimes */
  dirTimes?: boolean
}

function typeOf(st: BigIntStats): string {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  if (st.isSymbolicLink()) return 'symlink'
  if (st.isFIFO()) return 'fifo'
  if (st.isCharacterDevice()) return 'char'
  if (st.isBlockDevice()) return 'block'
  return 'socket'
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex')
}

/** Extended attributes of every path under root (python3: Node has no xattr API). */
export function xattrsOf(root: string): Record<string, Record<string, string>> {
  const script = `
import os, sys, json
root = sys.argv[1]
out = {}
for d, dirs, files in os.walk(root):
    for n in [''] + dirs + files:
        p = os.path.join(d, n) if n else d
        try:
            names = os.listxattr(p, follow_symlinks=False)
        except OSError:
            continue
        xs = {x: os.getxattr(p, x, follow_symlinks=False).hex() for x in names if not x.startswith('system.')}
        if xs:
            out[os.path.relpath(p, root)] = xs
print(json.dumps(out))
`
  return JSON.parse(execFileSync('python3', ['-c', script, root], { encoding: 'utf8' }))
}

export function setXattr(file: string, name: string, value: Buffer): void {
  execFileSync('python3', [
    '-c',
    'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)',
    file,
    name,
    value.toString('hex'),
  ])
}

/**
 * One line per entry: path, type, mode, owner, size, mtime in ns, link target, sha256 of the
 * content, and the hard-link group (the first path of the inode, in walk order).
 */
export function listTree(root: string, options: ListOptions = {}): string[] {
  const lines: string[] = []
  const firstPathOfInode = new Map<bigint, string>()
  const xattrs = options.xattrs ? xattrsOf(root) : {}
  const visit = (rel: string) => {
    const full = rel === '.' ? root : join(root, rel)
    const st = lstatSync(full, { bigint: true })
    const type = typeOf(st)
    const parts = [
      JSON.stringify(rel),
      type,
      (st.mode & 0o7777n).toString(8),
      `${st.uid}:${st.gid}`,
    ]
    const timed =
      type === 'dir' ? options.dirTimes !== false : type !== 'symlink' || options.symlinkTimes
    if (timed) parts.push(`mtime=${st.mtimeNs}`)
    if (type === 'file') {
      parts.push(`size=${st.size}`, `sha256=${sha256(full)}`)
      if (st.nlink > 1n) {
        const first = firstPathOfInode.get(st.ino)
        if (first === undefined) firstPathOfInode.set(st.ino, rel)
        parts.push(`links=${st.nlink}`, `group=${JSON.stringify(first ?? rel)}`)
      }
    }
    if (type === 'symlink') parts.push(`-> ${JSON.stringify(readlinkSync(full))}`)
    if (type === 'char' || type === 'block') parts.push(`rdev=${st.rdev}`)
    const xs = xattrs[rel]
    if (xs) parts.push(`xattrs=${JSON.stringify(Object.entries(xs).sort())}`)
    lines.push(parts.join(' '))
    if (type === 'dir') {
      const names = readdirSync(full).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      for (const name of names) visit(rel === '.' ? name : `${rel}/${name}`)
    }
  }
  visit('.')
  return lines
}

/** Allocated bytes of a file (st_blocks * 512). */
export function allocated(file: string): number {
  return Number(lstatSync(file).blocks) * 512
}

// ---- a minimal tar writer, for archives pack would never write ----

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`
}

export interface RawHeader {
  name: string
  type?: string
  size?: number
  mode?: number
  linkname?: string
}

/** One ustar header block with a correct checksum. */
export function ustarBlock(h: RawHeader): Buffer {
  const b = Buffer.alloc(512)
  b.write(h.name.slice(0, 100), 0, 'utf8')
  b.write(octal(h.mode ?? 0o644, 8), 100)
  b.write(octal(0, 8), 108)
  b.write(octal(0, 8), 116)
  b.write(octal(h.size ?? 0, 12), 124)
  b.write(octal(1_700_000_000, 12), 136)
  b.write(h.type ?? '0', 156)
  if (h.linkname) b.write(h.linkname, 157)
  b.write('ustar\0' + '00', 257, 'binary')
  b.fill(' ', 148, 156)
  let sum = 0
  for (const byte of b) sum += byte
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return b
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512
  return Buffer.concat([data, Buffer.alloc(pad)])
}

/** A pax 'x' header block and its records. */
export function paxBlocks(records: Record<string, string>): Buffer {
  const body = Buffer.concat(
    Object.entries(records).map(([k, v]) => {
      const base = Buffer.byteLength(`${k}=${v}\n`) + 1
      let len = base + String(base).length
      if (String(len).length !== String(base).length) len = base + String(len).length
      return Buffer.from(`${len} ${k}=${v}\n`)
    }),
  )
  return Buffer.concat([
    ustarBlock({ name: 'PaxHeaders/x', type: 'x', size: body.length }),
    padded(body),
  ])
}

/** An archive of the given entries (header + data), with the end marker unless `noEnd`. */
export function tarOf(
  entries: { header: RawHeader; pax?: Record<string, string>; data?: Buffer }[],
  noEnd = false,
): Buffer {
  const parts: Buffer[] = []
  for (const e of entries) {
    if (e.pax) parts.push(paxBlocks(e.pax))
    parts.push(ustarBlock({ ...e.header, size: e.data?.length ?? 0 }))
    if (e.data) parts.push(padded(e.data))
  }
  if (!noEnd) parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

export const MiB = 1024 * 1024

/** Sets an entry's own mtime (and atime) with nanoseconds: `when` is "<sec>.<ns>". */
export function setTime(path: string, when: string): void {
  execFileSync('touch', ['-h', '-d', `@${when}`, path])
}

/**
 * A tree with every kind of entry pack carries: large, small and empty files, nested and
 * empty directories, relative, absolute and dangling symlinks, hard links across
 * directories, a FIFO, a character device, setuid/setgid/sticky bits, owners other than
 * root (some past ustar's octal limit), nanosecond and pre-1970 mtimes, names with spaces,
 * newlines and non-ASCII, long paths, a sparse file (1 MiB of data after a 100 MiB hole),
 * a file that is all hole, and (with `xattrs`) user.* and trusted.* attributes.
 */
export function buildSampleTree(root: string, options: { xattrs?: boolean } = {}): void {
  const p = (rel: string) => join(root, rel)
  const long = 'long-directory-name-'.repeat(4)
  mkdirSync(p('dir/nested/deeper'), { recursive: true })
  mkdirSync(p('empty'))
  mkdirSync(p('sticky'), { mode: 0o1777 })
  chmodSync(p('sticky'), 0o1777)
  mkdirSync(p('setgid'))
  chmodSync(p('setgid'), 0o2775)
  mkdirSync(p(`${long}/${long}/${long}`), { recursive: true })
  writeFileSync(p(`${long}/${long}/${long}/file-${'x'.repeat(90)}`), 'deep')
  writeFileSync(p('empty-file'), '')
  writeFileSync(p('small'), 'hello\n')
  writeFileSync(p('dir/nested/deeper/large.bin'), randomBytes(3 * MiB + 123))
  for (let i = 0; i < 40; i++) writeFileSync(p(`dir/f${i}`), randomBytes(i * 97))
  writeFileSync(p('setuid'), '#!/bin/sh\n')
  chmodSync(p('setuid'), 0o4755)
  lchownSync(p('setgid'), 0, 5678) // files made in it get group 5678...
  writeFileSync(p('setgid/file'), 'g')
  chmodSync(p('setgid/file'), 0o2711)
  writeFileSync(p('setgid/root-group'), 'r')
  lchownSync(p('setgid/root-group'), 0, 0) // ...unless chowned
  writeFileSync(p('owned'), 'x')
  lchownSync(p('owned'), 1234, 5678)
  writeFileSync(p('big-ids'), 'y')
  lchownSync(p('big-ids'), 3_000_000, 4_000_000)
  lchownSync(p('dir/nested'), 1000, 1000)
  symlinkSync('../small', p('dir/relative-link'))
  symlinkSync('/etc/passwd', p('absolute-link'))
  symlinkSync('nowhere/at/all', p('dangling-link'))
  lchownSync(p('absolute-link'), 42, 43)
  writeFileSync(p('dir/linked'), 'shared content')
  linkSync(p('dir/linked'), p('dir/nested/linked-too'))
  linkSync(p('dir/linked'), p('another-name'))
  execFileSync('mkfifo', [p('fifo')])
  execFileSync('mknod', [p('null-device'), 'c', '1', '3'])
  writeFileSync(p('with space'), 'a')
  writeFileSync(p('with\nnewline'), 'b')
  writeFileSync(p('café ☕'), 'c')
  const fd = openSync(p('sparse'), 'w')
  writeSync(fd, randomBytes(MiB), 0, MiB, 100 * MiB)
  closeSync(fd)
  writeFileSync(p('all-hole'), '')
  truncateSync(p('all-hole'), 5 * MiB)
  if (options.xattrs) {
    setXattr(p('small'), 'user.note', Buffer.from('hi there'))
    setXattr(p('small'), 'trusted.binary', Buffer.from([0, 1, 2, 255, 10, 61]))
    setXattr(p('dir'), 'trusted.overlay.opaque', Buffer.from('y'))
    setXattr(p('sparse'), 'user.empty', Buffer.alloc(0))
    setXattr(p('absolute-link'), 'trusted.on-a-symlink', Buffer.from('z'))
  }
  // times last (creating entries changes their directory's mtime)
  let second = 1_600_000_000
  for (const line of listTree(root, {})) {
    const rel = JSON.parse(line.slice(0, line.indexOf('" ') + 1)) as string
    second += 7
    setTime(
      rel === '.' ? root : p(rel),
      `${second}.${String(second % 999_999_937).padStart(9, '1')}`,
    )
  }
  setTime(p('small'), '-1.5') // before 1970: sec -2, ns 500000000
}
