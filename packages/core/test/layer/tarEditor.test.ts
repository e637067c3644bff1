import { execFileSync } from 'node:child_process'
import { Readable } from 'node:stream'
import { extract, type Header } from 'tar-stream'
import { describe, expect, it } from 'vitest'
import { rootTarGuard } from '../../src/archive/rootTarGuard.js'
import { type TarEdit, TarEditor, tarEditStream } from '../../src/archive/tarEditor.js'
import { encodeTarHeader, endOfArchive } from '../../src/archive/tarWriter.js'
import {
  chunksOf,
  END_OF_ARCHIVE,
  type PackEntry,
  packTar,
  padded,
  paxHeader,
  rawHeader,
  refusal,
  through,
} from '../archive/support.js'

const CHUNK_SIZES = [1, 7, 511, 512, 513, 4096, 65536]
const LONG = 'n'.repeat(150)

/** A member as tar-stream reads it back. */
interface Member {
  name: string
  type: Header['type']
  linkname?: string | null
  size?: number
  devmajor?: number
  devminor?: number
  mode?: number
  uid?: number
  pax?: Record<string, string> | null
  content: string
}

async function members(archive: Buffer): Promise<Member[]> {
  const reader = extract()
  const found: Member[] = []
  const done = (async () => {
    for await (const entry of reader) {
      const chunks: Buffer[] = []
      for await (const chunk of entry) chunks.push(chunk as Buffer)
      const { name, type, linkname, size, devmajor, devminor, mode, uid, pax } = entry.header
      found.push({
        name,
        type,
        linkname,
        size,
        devmajor,
        devminor,
        mode,
        uid,
        pax: pax as Record<string, string> | undefined,
        content: Buffer.concat(chunks).toString(),
      })
    }
  })()
  Readable.from([archive]).pipe(reader)
  await done
  return found
}

/** GNU tar's listing of an archive, one line per member (`tar -tv`). */
function gnuList(archive: Buffer): string[] {
  return execFileSync('tar', ['-tv', '--numeric-owner', '-f', '-'], { input: archive })
    .toString()
    .split('\n')
    .filter((line) => line !== '')
}

const LAYER: PackEntry[] = [
  { name: 'layer/', type: 'directory' },
  { name: 'layer/etc/', type: 'directory', mode: 0o750, uid: 1000 },
  { name: 'layer/etc/added', content: 'added\n' },
  { name: 'layer/etc/group', type: 'character-device', devmajor: 0, devminor: 0, mode: 0 },
  { name: `layer/${LONG}`, content: 'a long name, in a PAX record' },
  { name: 'layer/big', content: Buffer.alloc(70_000, 'b') },
  { name: 'layer/hard', type: 'link', linkname: 'layer/etc/added' },
  { name: 'layer/sym', type: 'symlink', linkname: '../etc/added' },
  { name: 'layer/data/', type: 'directory' },
  { name: 'layer/data/inside', content: 'excluded' },
  { name: 'layer/data-not/', type: 'directory' },
]

/** Strips `layer/`, whiteouts as `.wh.` files, drops `data` and what is beneath. */
function toImageLayer(entry: { type: string; name: string; linkname: string; devmajor: number }) {
  const name = entry.name.slice('layer/'.length)
  if (name === '' || name === 'data/' || name.startsWith('data/')) return { action: 'drop' }
  if (entry.type === '3' && entry.devmajor === 0) {
    const slash = name.lastIndexOf('/')
    return {
      action: 'rewrite',
      name: `${name.slice(0, slash + 1)}.wh.${name.slice(slash + 1)}`,
      type: '0',
      mode: 0o600,
      devmajor: 0,
      devminor: 0,
    }
  }
  const linkname = entry.type === '1' ? entry.linkname.slice('layer/'.length) : undefined
  return { action: 'rewrite', name, ...(linkname === undefined ? {} : { linkname }) }
}

describe('TarEditor', () => {
  it.each(CHUNK_SIZES)('keeps an archive byte for byte, in %i-byte chunks', async (size) => {
    const archive = await packTar(LAYER)
    const output = await through(
      tarEditStream({ edit: () => ({ action: 'keep' }) }, 't'),
      archive,
      size,
    )
    expect(output.equals(archive)).toBe(true)
  })

  it.each(CHUNK_SIZES)('drops, renames and converts members, in %i-byte chunks', async (size) => {
    const archive = await packTar(LAYER)
    const edit = tarEditStream({ edit: (entry) => toImageLayer(entry) as TarEdit }, 't')
    const output = await through(edit, archive, size)
    const found = await members(output)
    expect(found.map((m) => m.name)).toEqual([
      'etc/',
      'etc/added',
      'etc/.wh.group',
      LONG,
      'big',
      'hard',
      'sym',
      'data-not/',
    ])
    const byName = new Map(found.map((m) => [m.name, m]))
    expect(byName.get('etc/')).toMatchObject({ type: 'directory', mode: 0o750, uid: 1000 })
    expect(byName.get('etc/.wh.group')).toMatchObject({ type: 'file', size: 0, mode: 0o600 })
    expect(byName.get(LONG)?.content).toBe('a long name, in a PAX record')
    expect(byName.get('big')?.content).toBe('b'.repeat(70_000))
    expect(byName.get('hard')).toMatchObject({ type: 'link', linkname: 'etc/added' })
    expect(byName.get('sym')).toMatchObject({ type: 'symlink', linkname: '../etc/added' })
    expect(output.subarray(-1024).equals(END_OF_ARCHIVE)).toBe(true)
    expect(gnuList(output)).toHaveLength(8)
  })

  it('turns a .wh. file back into a 0:0 character device under a new root', async () => {
    const archive = await packTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.group', content: '' },
      { name: `${LONG}/`, type: 'directory' },
      { name: `${LONG}/.wh.${LONG}`, content: '' },
    ])
    const edit = tarEditStream(
      {
        edit: (entry) => {
          const slash = entry.name.lastIndexOf('/', entry.name.length - 2)
          const base = entry.name.slice(slash + 1)
          if (!base.startsWith('.wh.')) return { action: 'rewrite', name: `layer/${entry.name}` }
          const name = `layer/${entry.name.slice(0, slash + 1)}${base.slice(4)}`
          return { action: 'rewrite', name, type: '3', mode: 0, devmajor: 0, devminor: 0 }
        },
      },
      't',
    )
    const found = await members(await through(edit, archive, 100))
    expect(found.map((m) => [m.name, m.type, m.devmajor, m.devminor])).toEqual([
      ['layer/etc/', 'directory', 0, 0],
      ['layer/etc/group', 'character-device', 0, 0],
      [`layer/${LONG}/`, 'directory', 0, 0],
      [`layer/${LONG}/${LONG}`, 'character-device', 0, 0],
    ])
  })

  it('drops a member with its PAX and GNU long-name headers', async () => {
    const gnuLong = Buffer.concat([
      rawHeader({ name: '././@LongLink', type: 'L', size: LONG.length + 5 }),
      padded(`drop/${LONG}`),
      rawHeader({ name: 'drop/nnn', size: 3 }),
      padded('xyz'),
    ])
    const pax = Buffer.concat([
      paxHeader({ path: `drop/${LONG}2`, 'SCHILY.xattr.user.a': 'b' }),
      rawHeader({ name: 'drop/x', size: 600 }),
      padded(Buffer.alloc(600, 1)),
    ])
    const kept = rawHeader({ name: 'kept', size: 4 })
    const archive = Buffer.concat([gnuLong, pax, kept, padded('kept'), END_OF_ARCHIVE])
    for (const size of CHUNK_SIZES) {
      const edit = tarEditStream(
        { edit: (e) => ({ action: e.name.startsWith('drop/') ? 'drop' : 'keep' }) },
        't',
      )
      const output = await through(edit, archive, size)
      expect(output.equals(Buffer.concat([kept, padded('kept'), END_OF_ARCHIVE]))).toBe(true)
    }
  })

  it('sees GNU long names and PAX records, and keeps the other records on a rewrite', async () => {
    const archive = Buffer.concat([
      rawHeader({ name: '././@LongLink', type: 'L', size: LONG.length }),
      padded(LONG),
      rawHeader({ name: 'short', size: 1 }),
      padded('1'),
      paxHeader({ path: 'from-pax', 'SCHILY.xattr.security.capability': 'cap' }),
      rawHeader({ name: 'ignored', size: 1 }),
      padded('2'),
      END_OF_ARCHIVE,
    ])
    const seen: string[] = []
    const edit = tarEditStream(
      {
        edit: (entry) => {
          seen.push(entry.name)
          return { action: 'rewrite', name: `x/${entry.name}`, pax: { 'user.added': 'yes' } }
        },
      },
      't',
    )
    const found = await members(await through(edit, archive, 300))
    expect(seen).toEqual([LONG, 'from-pax'])
    expect(found.map((m) => m.name)).toEqual([`x/${LONG}`, 'x/from-pax'])
    expect(found[1]?.pax).toMatchObject({
      'SCHILY.xattr.security.capability': 'cap',
      'user.added': 'yes',
    })
    expect(found.map((m) => m.content)).toEqual(['1', '2'])
  })

  it('gives a name that no longer needs one no PAX header', async () => {
    const archive = await packTar([{ name: `layer/${'a'.repeat(97)}`, content: 'x' }])
    const output = await through(
      tarEditStream(
        { edit: (e) => ({ action: 'rewrite', name: e.name.slice('layer/'.length) }) },
        't',
      ),
      archive,
    )
    expect(output.length).toBe(512 * 2 + 1024)
    expect((await members(output))[0]?.name).toBe('a'.repeat(97))
  })

  it('appends members before the end marker, or leaves the marker out', async () => {
    const archive = await packTar([{ name: 'a', content: 'a' }])
    const whiteout = encodeTarHeader({ name: `dir/.wh.${LONG}`, type: '0', mode: 0o600 })
    const appended = await through(
      tarEditStream({ edit: () => ({ action: 'keep' }), append: () => [whiteout] }, 't'),
      archive,
      5,
    )
    expect((await members(appended)).map((m) => m.name)).toEqual(['a', `dir/.wh.${LONG}`])
    expect(appended.subarray(-1024).equals(END_OF_ARCHIVE)).toBe(true)

    const open = await through(
      tarEditStream({ edit: () => ({ action: 'keep' }), terminate: false }, 't'),
      archive,
    )
    expect(open.equals(archive.subarray(0, archive.length - 1024))).toBe(true)
  })

  it('ends the archive after a member marked last, and reads no further', async () => {
    const archive = await packTar([
      { name: 'dir/', type: 'directory' },
      { name: 'dir/file', content: 'not wanted' },
    ])
    const editor = new TarEditor({ edit: () => ({ action: 'keep', last: true }) })
    const output: Buffer[] = []
    let pushed = 0
    for (const chunk of chunksOf(archive, 100)) {
      if (editor.done) break
      pushed++
      output.push(...editor.push(chunk))
    }
    expect(pushed).toBe(6)
    const found = await members(Buffer.concat(output))
    expect(found.map((m) => m.name)).toEqual(['dir/'])
  })

  it('refuses a truncated archive, and one without its end marker', async () => {
    const archive = await packTar([{ name: 'a', content: 'abc' }])
    const keep = () => tarEditStream({ edit: () => ({ action: 'keep' }) }, 'the layer')
    await expect(through(keep(), archive.subarray(0, 700))).rejects.toMatchObject({
      code: 'UNSAFE_ARCHIVE',
      message: expect.stringContaining('cannot read the layer: the archive is truncated'),
    })
    await expect(through(keep(), archive.subarray(0, 1024))).rejects.toMatchObject({
      code: 'UNSAFE_ARCHIVE',
      message: expect.stringContaining('without its end marker'),
    })
    const broken = Buffer.from(archive)
    broken[0] = 0x41 // the checksum no longer matches
    await expect(through(keep(), broken)).rejects.toMatchObject({
      message: expect.stringContaining('checksum'),
    })
  })
})

describe('encodeTarHeader', () => {
  it('writes headers that tar-stream and GNU tar read back, long names and numbers in PAX', async () => {
    const archive = Buffer.concat([
      encodeTarHeader({ name: 'etc/.wh.group', type: '0', mode: 0o600, mtime: 1_700_000_000 }),
      encodeTarHeader({ name: `${LONG}/.wh.${LONG}`, type: '0', uid: 3_000_000 }),
      encodeTarHeader({ name: 'dev', type: '3', devmajor: 0, devminor: 0 }),
      encodeTarHeader({
        name: 'dir/',
        type: '5',
        mode: 0o755,
        pax: new Map([['SCHILY.xattr.trusted.overlay.opaque', 'y']]),
      }),
      encodeTarHeader({ name: 'file', type: '0', size: 3 }),
      padded('abc'),
      endOfArchive(),
    ])
    const found = await members(archive)
    expect(found.map((m) => [m.name, m.type])).toEqual([
      ['etc/.wh.group', 'file'],
      [`${LONG}/.wh.${LONG}`, 'file'],
      ['dev', 'character-device'],
      ['dir/', 'directory'],
      ['file', 'file'],
    ])
    expect(found[1]?.pax).toMatchObject({ uid: '3000000' })
    expect(found[3]?.pax).toMatchObject({ 'SCHILY.xattr.trusted.overlay.opaque': 'y' })
    expect(found[4]?.content).toBe('abc')
    const listing = gnuList(archive)
    expect(listing).toHaveLength(5)
    expect(listing[1]).toMatch(/ 3000000\/0 /)
  })
})

describe('rootTarGuard', () => {
  const describeIt = 'the layer in backup b1'
  const refuse = (archive: Buffer) => refusal(rootTarGuard(describeIt), archive, describeIt)

  it('passes a layer byte for byte', async () => {
    const archive = await packTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.group', content: '' },
      { name: 'usr/bin/x', type: 'symlink', linkname: '../../bin/busybox' },
      { name: 'usr/bin/y', type: 'link', linkname: 'etc/.wh.group' },
      { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
    ])
    for (const size of CHUNK_SIZES) {
      expect((await through(rootTarGuard(describeIt), archive, size)).equals(archive)).toBe(true)
    }
  })

  it('refuses names, links and symlinks that leave the root', async () => {
    const error = await refuse(await packTar([{ name: '../x', content: '' }]))
    expect(error.message).toContain('entry "../x" is outside the root')
    await refuse(await packTar([{ name: 'a/../../x', content: '' }]))
    await refuse(Buffer.concat([rawHeader({ name: '/etc/passwd' }), END_OF_ARCHIVE]))
    await refuse(await packTar([{ name: 'h', type: 'link', linkname: '../etc/shadow' }]))
    await refuse(
      Buffer.concat([rawHeader({ name: 'h', type: '1', linkname: '/etc/shadow' }), END_OF_ARCHIVE]),
    )
    await refuse(await packTar([{ name: 'usr/s', type: 'symlink', linkname: '../../../etc' }]))
    await refuse(
      await packTar([
        { name: 'l', type: 'symlink', linkname: '/etc' },
        { name: 'l/passwd', content: '' },
      ]),
    )
  })
})
