import { describe, expect, it } from 'vitest'
import { randomStream } from '../streams.js'
import type { ConformanceContext } from './context.js'
import { expectTransportError, listKeys } from './expectations.js'

/** Keys that leave the base or are not plain relative paths. */
const INVALID_KEYS = ['../x', 'a/../../x', '/abs', 'a//b', 'a/./b', 'a\\b', '']

/** Every method refuses invalid keys and prefixes with `TRANSPORT_INVALID_KEY`. */
export function invalidKeyTests({ transport, key }: ConformanceContext): void {
  describe('invalid keys', () => {
    it('are refused by put, and nothing is stored', async () => {
      const t = transport()
      for (const invalid of INVALID_KEYS) {
        const body = randomStream(10)
        await expectTransportError(t.put(invalid, body), 'TRANSPORT_INVALID_KEY')
        body.destroy()
      }
      expect(await listKeys(t, '')).not.toContain('x')
    })

    it('are refused by get and stat', async () => {
      const t = transport()
      for (const invalid of INVALID_KEYS) {
        await expectTransportError(t.get(invalid), 'TRANSPORT_INVALID_KEY')
        await expectTransportError(t.stat(invalid), 'TRANSPORT_INVALID_KEY')
      }
    })

    it('are refused as prefixes by list and remove, and nothing is removed', async () => {
      const t = transport()
      await t.put(key('a/b'), randomStream(10))
      for (const invalid of INVALID_KEYS.filter((candidate) => candidate !== '')) {
        await expectTransportError(t.list(invalid), 'TRANSPORT_INVALID_KEY')
        await expectTransportError(t.remove(invalid), 'TRANSPORT_INVALID_KEY')
      }
      expect(await listKeys(t, key())).toEqual([key('a/b')])
    })
  })
}
