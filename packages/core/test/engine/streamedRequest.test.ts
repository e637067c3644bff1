import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { streamedRequest } from '../../src/engine/streamedRequest.js'

describe('streamedRequest', () => {
  it('fails at once with the error of a body that failed before the request began, never sending it', async () => {
    const body = new PassThrough()
    body.on('error', () => {})
    body.destroy(new Error('changed byte in chunk 0'))
    await new Promise((resolve) => setImmediate(resolve))
    let sent = false
    const request = async () => {
      sent = true
      return new Promise<never>(() => {})
    }
    await expect(streamedRequest(body, undefined, request)).rejects.toThrow(
      'changed byte in chunk 0',
    )
    expect(sent).toBe(false)
  })

  it("fails with the body's error when the body fails during the request, aborting it", async () => {
    const body = new PassThrough()
    const request = (abortSignal: AbortSignal) =>
      new Promise<never>((_, reject) =>
        abortSignal.addEventListener('abort', () => reject(new Error('aborted'))),
      )
    const pending = streamedRequest(body, undefined, request)
    body.destroy(new Error('cut short'))
    await expect(pending).rejects.toThrow('cut short')
  })
})
