import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { hashingStream } from '../../src/archive/hashingStream.js'
import { through } from './support.js'

describe('hashingStream', () => {
  it('passes the data through unchanged and reports its size and sha256', async () => {
    const data = randomBytes(300_000)
    const hashing = hashingStream()
    const output = await through(hashing, data, 4096)
    expect(output.equals(data)).toBe(true)
    await expect(hashing.digest()).resolves.toEqual({
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    })
  })

  it('reports an empty stream', async () => {
    const hashing = hashingStream()
    await through(hashing, Buffer.alloc(0))
    await expect(hashing.digest()).resolves.toEqual({
      size: 0,
      sha256: createHash('sha256').digest('hex'),
    })
  })

  it('rejects the digest with the error that destroyed the stream', async () => {
    const hashing = hashingStream()
    hashing.on('error', () => {}) // seen through the digest here
    hashing.write(Buffer.from('partial'))
    hashing.destroy(new Error('upload failed'))
    await expect(hashing.digest()).rejects.toThrow('upload failed')
  })

  it('rejects the digest when the stream is closed before its end', async () => {
    const hashing = hashingStream()
    hashing.destroy()
    await expect(hashing.digest()).rejects.toMatchObject({ code: 'INTERRUPTED' })
  })
})
