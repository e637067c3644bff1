import { createHash, randomBytes } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { verifyingStream } from '../../src/archive/verifyingStream.js'
import { through } from './support.js'

const data = randomBytes(200_000)
const expected = { size: data.length, sha256: createHash('sha256').update(data).digest('hex') }
const describeIt = 'artifact b1/volumes/0.tar'

describe('verifyingStream', () => {
  it('passes matching data through unchanged', async () => {
    const output = await through(verifyingStream(expected, describeIt), data, 1000)
    expect(output.equals(data)).toBe(true)
  })

  it('fails on a single flipped byte, naming what was expected and what arrived', async () => {
    const corrupt = Buffer.from(data)
    corrupt[123_456] = (corrupt[123_456] ?? 0) ^ 0x01
    const actual = createHash('sha256').update(corrupt).digest('hex')
    const error = await through(verifyingStream(expected, describeIt), corrupt, 1000).catch(
      (caught: unknown) => caught,
    )
    expect(error).toMatchObject({ name: 'TransshipError', code: 'INTEGRITY' })
    expect((error as Error).message).toContain(describeIt)
    expect((error as Error).message).toContain(expected.sha256)
    expect((error as Error).message).toContain(actual)
  })

  it('fails on truncated data', async () => {
    await expect(
      through(verifyingStream(expected, describeIt), data.subarray(0, data.length - 1), 1000),
    ).rejects.toMatchObject({
      code: 'INTEGRITY',
      message: expect.stringContaining(`received ${data.length - 1} bytes`),
    })
  })

  it('fails as soon as more bytes than expected arrive, without waiting for the end', async () => {
    const verifying = verifyingStream(expected, describeIt)
    const forwarded: Buffer[] = []
    verifying.on('data', (chunk: Buffer) => forwarded.push(chunk))
    const failed = new Promise((resolve) => verifying.on('error', resolve))
    verifying.write(data)
    verifying.write(Buffer.from('one byte too many, and more')) // and no end()
    expect(await failed).toMatchObject({
      code: 'INTEGRITY',
      message: expect.stringContaining(`more than the expected ${data.length} bytes`),
    })
    expect(Buffer.concat(forwarded).equals(data)).toBe(true)
  })

  it('signals an error and never a clean end to its consumer on a mismatch', async () => {
    const verifying = verifyingStream(expected, describeIt)
    const consumer = new PassThrough()
    verifying.pipe(consumer)
    consumer.resume()
    const outcome = new Promise<string>((resolve) => {
      consumer.on('end', () => resolve('end'))
      verifying.on('end', () => resolve('end'))
      verifying.on('error', (error) => resolve(`error ${(error as { code?: string }).code}`))
    })
    verifying.end(data.subarray(1))
    expect(await outcome).toBe('error INTEGRITY')
  })
})
