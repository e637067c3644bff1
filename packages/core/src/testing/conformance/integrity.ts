import { describe, expect, it } from 'vitest'
import { drainToHash, randomArtifact } from '../streams.js'
import type { ConformanceContext } from './context.js'
import { expectAbsent, expectTransportError } from './expectations.js'

const WRONG_SHA256 = '0'.repeat(64)

/** `put` with `expected`: a match is stored, a mismatch is refused and leaves nothing. */
export function integrityTests({ transport, key }: ConformanceContext): void {
  describe('expected size and sha256', () => {
    it('stores an artifact that matches them', async () => {
      const t = transport()
      const artifact = await randomArtifact(300_000, 'match')
      const expected = { size: artifact.size, sha256: artifact.sha256 }

      expect(await t.put(key('artifact'), artifact.stream(), expected)).toMatchObject({
        size: artifact.size,
      })
      expect(await drainToHash(await t.get(key('artifact')))).toEqual(expected)
    })

    for (const [label, mismatch] of [
      ['a size too large', (size: number) => ({ size: size + 1 })],
      ['a size too small', (size: number) => ({ size: size - 1 })],
      ['a wrong sha256', () => ({ sha256: WRONG_SHA256 })],
    ] as const) {
      it(`refuses ${label} with TRANSPORT_INTEGRITY and stores nothing`, async () => {
        const t = transport()
        const artifact = await randomArtifact(300_000, label)
        await expectTransportError(
          t.put(key('artifact'), artifact.stream(), mismatch(artifact.size)),
          'TRANSPORT_INTEGRITY',
        )
        await expectAbsent(t, key('artifact'), key())
        expect(await t.list(key())).toEqual([])
      })
    }

    it('keeps the artifact a mismatching put would have replaced', async () => {
      const t = transport()
      const old = await randomArtifact(2000, 'old')
      await t.put(key('artifact'), old.stream())
      await expectTransportError(
        t.put(key('artifact'), (await randomArtifact(3000, 'new')).stream(), {
          sha256: WRONG_SHA256,
        }),
        'TRANSPORT_INTEGRITY',
      )

      expect(await drainToHash(await t.get(key('artifact')))).toEqual({
        size: old.size,
        sha256: old.sha256,
      })
      expect(await t.list(key())).toMatchObject([{ key: key('artifact'), size: old.size }])
    })
  })
}
