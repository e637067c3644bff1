import { Readable } from 'node:stream'
import { extract } from 'tar-stream'
import { describe, expect, it } from 'vitest'
import { tarEditStream } from '../../src/archive/tarEditor.js'
import type { EngineClient } from '../../src/engine/client.js'
import type { LayerChange } from '../../src/stages/layer/containerChanges.js'
import { ExcludedPaths, layerPath } from '../../src/stages/layer/layerPaths.js'
import { changedPathsLayer } from '../../src/stages/layer/readChanges.js'
import { upperDirConversion } from '../../src/stages/layer/readUpperDir.js'
import { toUpperDir } from '../../src/stages/layer/writeUpperDir.js'
import { chunksOf, END_OF_ARCHIVE, type PackEntry, packTar, through } from '../archive/support.js'

const LONG = 'l'.repeat(130)

/** Each member as `<type> <name>[ -> <link>][ <dev>][ <xattrs>]`. */
async function summary(archive: Buffer): Promise<string[]> {
  const reader = extract()
  const lines: string[] = []
  const done = (async () => {
    for await (const entry of reader) {
      const { name, type, linkname, devmajor, devminor, mode } = entry.header
      const pax = (entry.header.pax ?? {}) as Record<string, string>
      const xattrs = Object.keys(pax).filter((key) => key.startsWith('SCHILY.xattr.'))
      let line = `${type} ${name}`
      if (linkname) line += ` -> ${linkname}`
      if (type === 'character-device') line += ` ${devmajor}:${devminor}`
      if (type === 'file' && name.includes('.wh.')) line += ` ${mode?.toString(8)}`
      if (xattrs.length > 0) line += ` ${xattrs.map((key) => `${key}=${pax[key]}`).join(',')}`
      lines.push(line)
      entry.resume()
    }
  })()
  Readable.from([archive]).pipe(reader)
  await done
  return lines
}

const changes = (...lines: string[]): LayerChange[] =>
  lines.map((line) => ({
    kind: line[0] as LayerChange['kind'],
    path: layerPath(line.slice(2)),
    reported: !line.includes('\uFFFD'),
  }))

const whiteoutDevice = { type: 'character-device', devmajor: 0, devminor: 0, mode: 0 } as const

/** An UpperDir as the engine's archive API gives it, mounted at /layer. */
const UPPER_DIR: PackEntry[] = [
  { name: 'layer/', type: 'directory' },
  { name: 'layer/etc/', type: 'directory' },
  { name: 'layer/etc/group', ...whiteoutDevice },
  // Whiteouts sharing one inode: the engine writes the later ones as hard links.
  { name: 'layer/etc/shadow', type: 'link', linkname: 'layer/etc/group' },
  { name: 'layer/etc/hosts', content: 'engine-managed' },
  { name: 'layer/opt/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'layer/opt/.wh.weird', content: 'a user file with a whiteout name' },
  { name: `layer/opt/${LONG}`, content: 'long' },
  { name: 'layer/opt/linked', type: 'link', linkname: `layer/opt/${LONG}` },
  { name: 'layer/srv/', type: 'directory' },
  { name: 'layer/srv/vol/', type: 'directory' },
  { name: 'layer/srv/vol/file', content: 'in the volume' },
  { name: 'layer/srv/to-volume', type: 'link', linkname: 'layer/srv/vol/file' },
  { name: 'layer/usr/', type: 'directory' },
  { name: 'layer/usr/sbin/', type: 'directory' },
  { name: 'layer/usr/sbin/new', content: 'new' },
  { name: 'layer/var/', type: 'directory' },
  { name: 'layer/var/cache/', type: 'directory', mode: 0o750 },
]

const UPPER_DIR_CHANGES = changes(
  'C /etc',
  'D /etc/group',
  'D /etc/shadow',
  'C /opt',
  'A /opt/.wh.weird',
  `A /opt/${LONG}`,
  'A /opt/linked',
  'D /opt/gone/too',
  'C /usr',
  'C /usr/sbin',
  'A /usr/sbin/new',
  'D /usr/sbin/chroot',
  `D /usr/sbin/${LONG}`,
  'D /usr/sbin/caf\uFFFD',
  'C /var',
  'D /var/cache',
)

describe('upperDirConversion: an UpperDir archive into an image layer', () => {
  it.each([1, 511, 4096])('converts, drops and completes it, in %i-byte chunks', async (size) => {
    const warnings: string[] = []
    const conversion = upperDirConversion({
      describe: 'the layer of web',
      changes: UPPER_DIR_CHANGES,
      excluded: new ExcludedPaths(['/srv/vol', '/etc/hosts']),
      warn: (message) => warnings.push(message),
    })
    const output = await through(
      tarEditStream(conversion, 'the layer'),
      await packTar(UPPER_DIR),
      size,
    )
    expect(await summary(output)).toEqual([
      'directory etc/',
      'file etc/.wh.group 600',
      'file etc/.wh.shadow 600',
      'directory opt/',
      `file opt/${LONG}`,
      `link opt/linked -> opt/${LONG}`,
      'directory srv/',
      'directory usr/',
      'directory usr/sbin/',
      'file usr/sbin/new',
      'directory var/',
      // `docker diff` calls it deleted, yet the layer holds it: re-created, opaque.
      'directory var/cache/',
      'file var/cache/.wh..wh..opq 600',
      // Entries of the image hidden by the re-created usr/sbin, listed by `docker diff`.
      'file usr/sbin/.wh.chroot 600',
      `file usr/sbin/.wh.${LONG} 600`,
    ])
    expect(output.subarray(-1024).equals(END_OF_ARCHIVE)).toBe(true)
    expect(warnings).toEqual([
      '/opt/.wh.weird is not carried: image layers read a name starting with .wh. as a deletion',
      '/srv/to-volume is not carried: it is a hard link to /srv/vol/file, which is not carried',
      expect.stringContaining('1 deleted path(s) whose names are not valid UTF-8 (/usr/sbin/caf'),
      'the deletion of /opt/gone/too is not carried: the layer does not hold its directory',
    ])
  })

  it('keeps a directory’s mode and owner', async () => {
    const conversion = upperDirConversion({
      describe: 'the layer',
      changes: [],
      excluded: new ExcludedPaths([]),
      warn: () => {},
    })
    const output = await through(tarEditStream(conversion, 'x'), await packTar(UPPER_DIR))
    const reader = extract()
    const headers: Record<string, { mode?: number; uid?: number }> = {}
    const done = (async () => {
      for await (const entry of reader) {
        headers[entry.header.name] = entry.header
        entry.resume()
      }
    })()
    Readable.from([output]).pipe(reader)
    await done
    expect(headers['opt/']).toMatchObject({ mode: 0o700, uid: 1000 })
    expect(headers['var/cache/']).toMatchObject({ mode: 0o750 })
  })
})

describe('toUpperDir: an image layer into an UpperDir, under /layer', () => {
  it('turns whiteouts into 0:0 devices and an opaque whiteout into the directory’s mark', async () => {
    const layer = await packTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.group', content: '', mode: 0o600 },
      { name: 'usr/sbin/', type: 'directory', mode: 0o750 },
      { name: 'usr/sbin/.wh..wh..opq', content: '' },
      { name: 'usr/sbin/new', content: 'new' },
      { name: `${LONG}/`, type: 'directory' },
      { name: `${LONG}/.wh.${LONG}`, content: '' },
      { name: 'hard', type: 'link', linkname: 'usr/sbin/new' },
      { name: 'sym', type: 'symlink', linkname: '../etc' },
    ])
    for (const size of [1, 512, 65536]) {
      const output = await through(tarEditStream(toUpperDir('the layer'), 'x'), layer, size)
      expect(await summary(output)).toEqual([
        'directory layer/etc/',
        'character-device layer/etc/group 0:0',
        'directory layer/usr/sbin/',
        'directory layer/usr/sbin/ SCHILY.xattr.trusted.overlay.opaque=y',
        'file layer/usr/sbin/new',
        `directory layer/${LONG}/`,
        `character-device layer/${LONG}/${LONG} 0:0`,
        'link layer/hard -> layer/usr/sbin/new',
        'symlink layer/sym -> ../etc',
      ])
    }
  })

  it('refuses an opaque whiteout away from its directory', async () => {
    const layer = await packTar([
      { name: 'usr/sbin/', type: 'directory' },
      { name: 'usr/bin/', type: 'directory' },
      { name: 'usr/sbin/.wh..wh..opq', content: '' },
    ])
    await expect(through(tarEditStream(toUpperDir('the layer'), 'x'), layer)).rejects.toMatchObject(
      {
        code: 'LAYER_UNSUPPORTED',
      },
    )
  })
})

describe('changedPathsLayer: the changes docker diff lists, read path by path', () => {
  /** A container's files, as the archive API gives each path: named after its base name. */
  const FILES: Record<string, PackEntry[]> = {
    '/etc': [
      { name: 'etc/', type: 'directory', mode: 0o700 },
      { name: 'etc/passwd', content: 'unchanged, not wanted' },
    ],
    '/etc/added': [{ name: 'added', content: 'added' }],
    '/opt/new': [
      { name: 'new/', type: 'directory' },
      { name: 'new/a', content: 'a' },
      { name: 'new/b', type: 'link', linkname: 'new/a' },
      { name: `new/${LONG}`, content: 'long' },
      { name: 'new/mnt/', type: 'directory' },
      { name: 'new/mnt/in-volume', content: 'excluded' },
    ],
    '/opt': [{ name: 'opt/', type: 'directory' }],
  }

  function fakeEngine(read: Record<string, 'whole' | 'part'>): EngineClient {
    const docker = {
      getContainer: () => ({
        getArchive: async ({ path }: { path: string }) => {
          const archive = await packTar(FILES[path] ?? [])
          const chunks = chunksOf(archive, 100)
          let sent = 0
          const stream = Readable.from(
            (function* () {
              for (const chunk of chunks) {
                sent++
                yield chunk
              }
            })(),
          )
          stream.on('close', () => {
            read[path] = sent === chunks.length ? 'whole' : 'part'
          })
          return stream
        },
        export: async () => {
          read.export = 'whole'
          return Readable.from(chunksOf(await packTar(EXPORT), 300))
        },
      }),
    }
    return { call: (_action: string, run: (d: unknown) => unknown) => run(docker) } as never
  }

  /** The whole filesystem, as `docker export` gives it. */
  const EXPORT: PackEntry[] = [
    { name: '.dockerenv', content: '' },
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', content: 'the image' },
    { name: 'etc/', type: 'directory', mode: 0o700 },
    { name: 'etc/added', content: 'added' },
    { name: 'etc/passwd', content: 'unchanged' },
    { name: 'opt/', type: 'directory' },
    { name: 'opt/bb', type: 'link', linkname: 'bin/busybox' },
    { name: 'opt/new/', type: 'directory' },
    { name: 'opt/new/a', content: 'a' },
    { name: 'opt/new/b', type: 'link', linkname: 'opt/new/a' },
    { name: 'opt/new/caf\u00e9', content: 'not UTF-8 on the engine' },
    { name: 'opt/new/mnt/', type: 'directory' },
    { name: 'opt/other', type: 'link', linkname: 'opt/new/a' },
  ]

  it('reads the changed paths from the export, keeping hard links; one to the image is read apart', async () => {
    const read: Record<string, 'whole' | 'part'> = {}
    FILES['/opt/bb'] = [{ name: 'bb', content: 'the image' }]
    const warnings: string[] = []
    const chunks: Buffer[] = []
    for await (const chunk of changedPathsLayer(fakeEngine(read), {
      container: 'c1',
      describe: 'the layer',
      changes: changes(
        'C /etc',
        'A /etc/added',
        'D /etc/group',
        'C /opt',
        'A /opt/bb',
        'A /opt/new',
        'A /opt/new/a',
        'A /opt/new/b',
        'A /opt/new/caf\uFFFD',
        'A /opt/other',
      ),
      excluded: new ExcludedPaths(['/opt/new/mnt']),
      warn: (message) => warnings.push(message),
      signal: new AbortController().signal,
      imageSize: 10,
    })) {
      chunks.push(chunk)
    }
    expect(await summary(Buffer.concat(chunks))).toEqual([
      'directory etc/',
      'file etc/added',
      'directory opt/',
      'directory opt/new/',
      'file opt/new/a',
      'link opt/new/b -> opt/new/a',
      'file opt/new/caf\u00e9',
      'link opt/other -> opt/new/a',
      'file opt/bb',
      'file etc/.wh.group 600',
    ])
    expect(warnings).toEqual([])
  })

  it('concatenates the paths rooted at /, with whiteouts, reading a changed directory’s header only', async () => {
    const read: Record<string, 'whole' | 'part'> = {}
    const warnings: string[] = []
    const chunks: Buffer[] = []
    for await (const chunk of changedPathsLayer(fakeEngine(read), {
      container: 'c1',
      describe: 'the layer',
      changes: changes(
        'C /etc',
        'A /etc/added',
        'D /etc/group',
        'C /opt',
        'A /opt/new',
        'A /opt/new/a',
        'A /opt/new/b',
        `A /opt/new/${LONG}`,
        'A /opt/caf\uFFFD',
      ),
      excluded: new ExcludedPaths(['/opt/new/mnt']),
      warn: (message) => warnings.push(message),
      signal: new AbortController().signal,
      read: 'paths',
    })) {
      chunks.push(chunk)
    }
    expect(await summary(Buffer.concat(chunks))).toEqual([
      'directory etc/',
      'file etc/added',
      'directory opt/',
      'directory opt/new/',
      'file opt/new/a',
      'link opt/new/b -> opt/new/a',
      `file opt/new/${LONG}`,
      'file etc/.wh.group 600',
    ])
    await new Promise((resolve) => setImmediate(resolve))
    expect(read).toEqual({
      '/etc': 'part',
      '/etc/added': 'whole',
      '/opt': 'part',
      '/opt/new': 'whole',
    })
    expect(warnings).toEqual([
      expect.stringContaining('is not carried (A): its name is not valid UTF-8'),
      'the layer was read path by path (4 requests): hard links hold only within a directory the container added',
    ])
  })
})
