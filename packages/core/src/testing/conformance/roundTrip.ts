import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { drainToHash, randomArtifact } from '../streams.js'
import type { ConformanceContext } from './context.js'
import { expectTransportError } from './expectations.js'

/** Big enough to span many chunks of any stream; not a round number of them. */
export const LARGE_SIZE = 8 * 1024 * 1024 + 3

/** `put` then `get` and `stat`: what goes in comes out, and missing keys are reported. */
export function roundTripTests({ transport, key }: ConformanceContext): void {
  describe('round trip', () => {
    for (const [label, size] of [
      ['an empty artifact', 0],
      ['a small artifact', 11],
      ['a multi-MiB artifact, streamed', LARGE_SIZE],
    ] as const) {
      it(`stores and returns ${label}, and put returns its stat`, async () => {
        const t = transport()
        const artifact = await randomArtifact(size, label)
        const stored = await t.put(key('artifact'), artifact.stream())

        expect(stored).toMatchObject({ key: key('artifact'), size })
        expect(stored.modified === undefined || stored.modified instanceof Date).toBe(true)
        expect(await t.stat(key('artifact'))).toMatchObject({ key: key('artifact'), size })
        expect(await drainToHash(await t.get(key('artifact')))).toEqual({
          size,
          sha256: artifact.sha256,
        })
      })
    }

    it('stores a body of string chunks as their UTF-8 bytes', async () => {
      const t = transport()
      const text = ['{"name":', '"vólume ✓"}']
      const bytes = Buffer.from(text.join(''))
      expect(await t.put(key('artifact'), Readable.from(text))).toMatchObject({
        size: bytes.length,
      })
      expect(await drainToHash(await t.get(key('artifact')))).toEqual(
        await drainToHash(Readable.from([bytes])),
      )
    })

    it('reports a missing key: stat gives undefined, get rejects TRANSPORT_NOT_FOUND', async () => {
      const t = transport()
      expect(await t.stat(key('missing'))).toBeUndefined()
      await expectTransportError(t.get(key('missing')), 'TRANSPORT_NOT_FOUND')
    })

    it('does not take a prefix of stored keys for an artifact', async () => {
      const t = transport()
      await t.put(key('dir/file'), (await randomArtifact(5)).stream())
      expect(await t.stat(key('dir'))).toBeUndefined()
      await expectTransportError(t.get(key('dir')), 'TRANSPORT_NOT_FOUND')
    })

    it('replaces an existing artifact', async () => {
      const t = transport()
      const first = await randomArtifact(1000, 'first')
      const second = await randomArtifact(700, 'second')
      await t.put(key('artifact'), first.stream())
      expect(await t.put(key('artifact'), second.stream())).toMatchObject({ size: 700 })

      expect(await t.stat(key('artifact'))).toMatchObject({ size: 700 })
      expect(await drainToHash(await t.get(key('artifact')))).toEqual({
        size: 700,
        sha256: second.sha256,
      })
    })

    it('leaves one whole artifact when two puts race for a key', async () => {
      const t = transport()
      const one = await randomArtifact(1024 * 1024, 'one')
      const other = await randomArtifact(1024 * 1024 + 1, 'other')
      await Promise.all([
        t.put(key('artifact'), one.stream()),
        t.put(key('artifact'), other.stream()),
      ])

      const stored = await drainToHash(await t.get(key('artifact')))
      expect([one.sha256, other.sha256]).toContain(stored.sha256)
      expect(await t.stat(key('artifact'))).toMatchObject({ size: stored.size })
      expect(await t.list(key())).toHaveLength(1)
    })
  })
}
