import { describe, expect, it } from 'vitest'
import { randomStream } from '../streams.js'
import type { ConformanceContext } from './context.js'
import { listKeys } from './expectations.js'

/**
 * Paths put in an order that differs from the sorted one; `a-b/x` sorts before `a/x` ('-'
 * < '/'), which a walk that sorts names one directory at a time gets wrong.
 */
const PATHS = ['b', 'a/y/z', 'ab/x', 'a-b/x', 'a/x', 'a.c']

/**
 * `list`: segment-wise prefixes, sorted keys, sizes. A prefix is a key path: it covers the
 * artifact at that key, if any, and every artifact below it.
 */
export function listingTests({ transport, key }: ConformanceContext): void {
  describe('list', () => {
    async function putAll() {
      const t = transport()
      for (const [index, path] of PATHS.entries()) {
        await t.put(key(path), randomStream(index * 10, path))
      }
      return t
    }

    it('lists the artifacts under a prefix segment-wise, with or without a trailing /', async () => {
      const t = await putAll()
      const expected = [key('a/x'), key('a/y/z')]
      expect(await listKeys(t, key('a'))).toEqual(expected)
      expect(await listKeys(t, `${key('a')}/`)).toEqual(expected)
      expect(await listKeys(t, key('a/y'))).toEqual([key('a/y/z')])
    })

    it('returns every artifact sorted by key, with its size', async () => {
      const t = await putAll()
      const expected = PATHS.map((path, index) => ({ key: key(path), size: index * 10 })).sort(
        (one, other) => (one.key < other.key ? -1 : 1),
      )
      expect(await t.list(key())).toMatchObject(expected)
      expect(await t.list(key())).toHaveLength(PATHS.length)
    })

    it('lists everything, sorted, under the empty prefix', async () => {
      const t = await putAll()
      const all = await listKeys(t, '')
      expect(all).toEqual([...all].sort((one, other) => (one < other ? -1 : 1)))
      expect(all.filter((listed) => listed.startsWith(`${key()}/`))).toEqual(
        await listKeys(t, key()),
      )
      expect(all).toHaveLength(new Set(all).size)
    })

    it('lists nothing under a prefix nothing is stored under', async () => {
      const t = await putAll()
      expect(await t.list(key('none'))).toEqual([])
      expect(await t.list(key('a/x/deeper'))).toEqual([])
    })

    it("takes an artifact's own key as a prefix that lists just that artifact", async () => {
      const t = await putAll()
      expect(await t.list(key('b'))).toMatchObject([{ key: key('b'), size: 0 }])
      expect(await listKeys(t, key('a/x'))).toEqual([key('a/x')])
    })
  })
}
