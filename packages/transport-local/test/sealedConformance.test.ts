import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { SecretKey, sealedTransport } from '@transship/core'
import { describeTransportConformance } from '@transship/core/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLocalTransport } from '../src/index.js'

// The sealing wrapper is a transport like any other: the same contract, on a real directory.
describeTransportConformance('sealed local', async () => {
  const base = await mkdtemp(join(tmpdir(), 'transship-sealed-'))
  return {
    transport: sealedTransport(createLocalTransport({ base }), SecretKey.generate()),
    teardown: () => rm(base, { recursive: true, force: true }),
  }
})

describe('a sealed transport over a directory', () => {
  let base: string
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'transship-sealed-'))
  })
  afterEach(() => rm(base, { recursive: true, force: true }))

  it('stores only sealed bytes, under the same key, and reads the plaintext back', async () => {
    const transport = sealedTransport(createLocalTransport({ base }), SecretKey.generate())
    await transport.put('b1/manifest.json', Readable.from(['{"env":["PASSWORD=hunter2"]}']))
    const stored = await readFile(join(base, 'b1', 'manifest.json'))
    expect(stored.includes('hunter2')).toBe(false)
    expect(stored.subarray(0, 19).toString()).toBe('transship-sealed/1\n')
    expect(await text(await transport.get('b1/manifest.json'))).toContain('hunter2')
  })

  it('refuses an artifact copied under another key, or read with another secret, naming it', async () => {
    const inner = createLocalTransport({ base })
    const sealed = sealedTransport(inner, SecretKey.generate())
    await sealed.put('b1/volumes/0.tar', Readable.from(['first']))
    await sealed.put('b2/volumes/0.tar', Readable.from(['second']))
    await inner.put('b2/volumes/0.tar', await inner.get('b1/volumes/0.tar'))
    await expect(text(await sealed.get('b2/volumes/0.tar'))).rejects.toMatchObject({
      code: 'SEAL_AUTHENTICATION_FAILED',
      message: expect.stringContaining('b2/volumes/0.tar'),
    })
    const other = sealedTransport(inner, SecretKey.generate())
    await expect(text(await other.get('b1/volumes/0.tar'))).rejects.toMatchObject({
      code: 'SEAL_AUTHENTICATION_FAILED',
    })
  })
})
