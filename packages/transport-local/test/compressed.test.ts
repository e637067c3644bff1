import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import {
  CODEC_NAMES,
  compressedTransport,
  findCodec,
  SecretKey,
  sealedTransport,
  type Transport,
} from '@transship/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLocalTransport } from '../src/index.js'

/** Compressible bytes: a tar of text files compresses like this. */
const TEXT = Buffer.from('key:1 value:redis\n'.repeat(100_000))

function codec(name: (typeof CODEC_NAMES)[number]) {
  const found = findCodec(name)
  if (!found) throw new Error(`no ${name} on this machine`)
  return found
}

describe.each(CODEC_NAMES)('a %s-compressed transport over a directory', (name) => {
  let base: string
  let inner: Transport
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'transship-compressed-'))
    inner = createLocalTransport({ base })
  })
  afterEach(() => rm(base, { recursive: true, force: true }))

  it('stores compressed bytes, smaller, and reads the artifact back', async () => {
    const transport = compressedTransport(inner, codec(name))
    const stored = await transport.put('b1/volumes/0.tar', Readable.from([TEXT]))
    const onDisk = await readFile(join(base, 'b1', 'volumes', '0.tar'))
    expect(onDisk.length).toBeLessThan(TEXT.length / 10)
    expect(stored.size).toBe(onDisk.length)
    expect(await transport.stat('b1/volumes/0.tar')).toMatchObject({ size: onDisk.length })
    expect((await buffer(await transport.get('b1/volumes/0.tar'))).equals(TEXT)).toBe(true)
  })

  it('leaves the manifest as it is: readable without knowing the codec', async () => {
    const transport = compressedTransport(inner, codec(name))
    await transport.put('b1/manifest.json', Readable.from(['{"compression":"zstd"}']))
    expect(await readFile(join(base, 'b1', 'manifest.json'), 'utf8')).toBe('{"compression":"zstd"}')
  })

  it('compresses before sealing: sealed over a directory, it still round-trips and is small', async () => {
    const transport = compressedTransport(sealedTransport(inner, SecretKey.generate()), codec(name))
    await transport.put('b1/layer.tar', Readable.from([TEXT]))
    const onDisk = await readFile(join(base, 'b1', 'layer.tar'))
    expect(onDisk.subarray(0, 19).toString()).toBe('transship-sealed/1\n')
    expect(onDisk.length).toBeLessThan(TEXT.length / 10)
    expect((await buffer(await transport.get('b1/layer.tar'))).equals(TEXT)).toBe(true)
  })

  it('refuses to store what does not meet the expectation, of the plain artifact', async () => {
    const transport = compressedTransport(inner, codec(name))
    await expect(
      transport.put('b1/volumes/0.tar', Readable.from([TEXT]), { size: TEXT.length + 1 }),
    ).rejects.toMatchObject({ code: 'TRANSPORT_INTEGRITY' })
    expect(await inner.stat('b1/volumes/0.tar')).toBeUndefined()
  })

  it('fails clearly on a corrupt compressed artifact, naming it and the codec', async () => {
    const transport = compressedTransport(inner, codec(name))
    await transport.put('b1/volumes/0.tar', Readable.from([TEXT]))
    const path = join(base, 'b1', 'volumes', '0.tar')
    const stored = await readFile(path)
    await writeFile(path, stored.subarray(0, Math.floor(stored.length / 2)))
    await expect(buffer(await transport.get('b1/volumes/0.tar'))).rejects.toMatchObject({
      code: 'INTEGRITY',
      message: expect.stringMatching(
        new RegExp(`b1/volumes/0.tar is corrupt: it does not decompress as ${name}`),
      ),
    })
    await writeFile(path, Buffer.from('not compressed at all'))
    await expect(buffer(await transport.get('b1/volumes/0.tar'))).rejects.toMatchObject({
      code: 'INTEGRITY',
    })
  })
})
