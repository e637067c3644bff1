import { describe, expect, it } from 'vitest'
import { randomStream } from '../streams.js'
import type { ConformanceContext } from './context.js'
import { expectAbsent, expectTransportError, listKeys } from './expectations.js'

/** `remove`: a subtree or a single artifact, as `list` takes prefixes, and never everything. */
export function removalTests({ transport, key }: ConformanceContext): void {
  describe('remove', () => {
    async function putAll(...paths: string[]) {
      const t = transport()
      for (const path of paths) await t.put(key(path), randomStream(100, path))
      return t
    }

    for (const suffix of ['', '/']) {
      it(`removes only the subtree under a prefix${suffix ? ' with a trailing /' : ''}`, async () => {
        const t = await putAll('a/x', 'a/y/z', 'ab/x', 'b')
        await t.remove(`${key('a')}${suffix}`)

        expect(await listKeys(t, key())).toEqual([key('ab/x'), key('b')])
        await expectAbsent(t, key('a/x'), key())
        await expectAbsent(t, key('a/y/z'), key())
      })
    }

    it('removes nothing, without error, under a prefix nothing is stored under', async () => {
      const t = await putAll('a/x')
      await t.remove(key('none'))
      await t.remove(key('a/x/deeper'))
      expect(await listKeys(t, key())).toEqual([key('a/x')])
    })

    it('removes a single artifact by its own key, and nothing beside it', async () => {
      const t = await putAll('a/x', 'a/xy', 'a/y/z')
      await t.remove(key('a/x'))
      expect(await listKeys(t, key())).toEqual([key('a/xy'), key('a/y/z')])
    })

    it('refuses the empty prefix with TRANSPORT_INVALID_KEY and removes nothing', async () => {
      const t = await putAll('a/x')
      await expectTransportError(t.remove(''), 'TRANSPORT_INVALID_KEY')
      await expectTransportError(t.remove('/'), 'TRANSPORT_INVALID_KEY')
      expect(await listKeys(t, key())).toEqual([key('a/x')])
    })
  })
}
