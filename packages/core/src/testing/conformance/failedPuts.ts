import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { drainToHash, randomArtifact, randomStream } from '../streams.js'
import { failingStream, feedWithoutEnding } from './bodies.js'
import type { ConformanceContext } from './context.js'
import { expectAbsent, expectTransportError, listKeys, promptly } from './expectations.js'

/** A `put` whose body fails or which is aborted leaves nothing, and nothing shows meanwhile. */
export function failedPutTests({ transport, key }: ConformanceContext): void {
  describe('failed and unfinished puts', () => {
    it('rejects with TRANSPORT_IO when the body errors midway, and stores nothing', async () => {
      const t = transport()
      const failure = new Error('the body failed')
      const error = await expectTransportError(
        promptly(t.put(key('artifact'), failingStream(256 * 1024, failure)), 'put'),
        'TRANSPORT_IO',
      )
      expect(error.cause).toBeDefined()
      await expectAbsent(t, key('artifact'), key())
      expect(await t.list(key())).toEqual([])
    })

    it('keeps the artifact a failing put would have replaced', async () => {
      const t = transport()
      const old = await randomArtifact(2000, 'old')
      await t.put(key('artifact'), old.stream())
      await expectTransportError(
        promptly(t.put(key('artifact'), failingStream(4096, new Error('failed'))), 'put'),
        'TRANSPORT_IO',
      )
      expect(await drainToHash(await t.get(key('artifact')))).toEqual({
        size: old.size,
        sha256: old.sha256,
      })
    })

    it('stores nothing when a put is aborted midway', async () => {
      const t = transport()
      const abort = new AbortController()
      const body = new PassThrough()
      const putting = t.put(key('artifact'), body, undefined, { signal: abort.signal })
      await feedWithoutEnding(body, 256 * 1024)
      abort.abort()

      await expectTransportError(promptly(putting, 'aborted put'), /^TRANSPORT_/)
      await expectAbsent(t, key('artifact'), key())
      expect(await t.list(key())).toEqual([])
    })

    it('stores nothing when a put is given an aborted signal', async () => {
      const t = transport()
      await expectTransportError(
        promptly(
          t.put(key('artifact'), randomStream(1000), undefined, { signal: AbortSignal.abort() }),
          'aborted put',
        ),
        /^TRANSPORT_/,
      )
      await expectAbsent(t, key('artifact'), key())
    })

    it('shows an artifact only once its put completes', async () => {
      const t = transport()
      const body = new PassThrough()
      const putting = t.put(key('artifact'), body)
      await feedWithoutEnding(body, 256 * 1024)

      await expectAbsent(t, key('artifact'), key())
      expect(await t.list(key())).toEqual([])
      expect(await listKeys(t, '')).not.toContain(key('artifact'))

      body.end(Buffer.alloc(1000))
      expect(await promptly(putting, 'put')).toMatchObject({ size: 256 * 1024 + 1000 })
      expect(await listKeys(t, key())).toEqual([key('artifact')])
    })
  })
}
