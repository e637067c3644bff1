import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { randomArtifact, randomStream } from '@transship/core/testing'
import { describe, expect, it } from 'vitest'
import { createLocalTransport } from '../src/index.js'
import { temporaryDirectory, tree } from './support.js'

describe('local transport files', () => {
  it('leaves no temporary file behind a put that fails', async () => {
    const base = await temporaryDirectory()
    const transport = createLocalTransport({ base })
    const artifact = await randomArtifact(100_000)
    await expect(
      transport.put('a/b', artifact.stream(), { sha256: '0'.repeat(64) }),
    ).rejects.toMatchObject({ code: 'TRANSPORT_INTEGRITY' })
    const failing = new Readable({
      read() {
        this.destroy(new Error('the body failed'))
      },
    })
    await expect(transport.put('a/c', failing)).rejects.toMatchObject({ code: 'TRANSPORT_IO' })

    expect(await tree(base)).toEqual(['a'])
  })

  it('keeps the temporary file of an unfinished put out of the listing', async () => {
    const base = await temporaryDirectory()
    const transport = createLocalTransport({ base })
    const body = new PassThrough()
    const putting = transport.put('a/b', body)
    body.write('partial')
    await expect.poll(() => tree(base)).toEqual(['a', expect.stringMatching(/^a\/\.b\.partial-/)])

    expect(await transport.list('')).toEqual([])
    expect(await transport.list('a')).toEqual([])
    body.end()
    await putting
    expect(await tree(base)).toEqual(['a', 'a/b'])
  })

  it('refuses keys shaped like its temporary files', async () => {
    const transport = createLocalTransport({ base: await temporaryDirectory() })
    await expect(transport.put('a/.b.partial-0123456789ab', randomStream(1))).rejects.toMatchObject(
      { code: 'TRANSPORT_INVALID_KEY' },
    )
    await expect(transport.get('.b.partial-0123456789ab')).rejects.toMatchObject({
      code: 'TRANSPORT_INVALID_KEY',
    })
  })

  it('prunes the directories a removal empties, up to base', async () => {
    const base = await temporaryDirectory()
    const transport = createLocalTransport({ base })
    await transport.put('a/b/c/x', randomStream(1))
    await transport.put('a/y', randomStream(1))

    await transport.remove('a/b/c')
    expect(await tree(base)).toEqual(['a', 'a/y'])
    await transport.remove('a')
    expect(await readdir(base)).toEqual([])
  })

  it('names the key and the path, and keeps the cause, when the file system fails', async () => {
    const base = await temporaryDirectory()
    await mkdir(join(base, 'taken', 'by-a-directory'), { recursive: true })
    const transport = createLocalTransport({ base })

    const error = await transport.put('taken', randomStream(1)).catch((reason: Error) => reason)
    expect(error).toMatchObject({
      code: 'TRANSPORT_IO',
      message: expect.stringContaining(
        `[transship] [local] cannot put "taken" at ${join(base, 'taken')}: `,
      ),
      cause: expect.objectContaining({ code: 'EISDIR' }),
    })
    expect(await tree(base)).toEqual(['taken', 'taken/by-a-directory'])
  })
})
