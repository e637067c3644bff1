import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { randomStream } from '@transship/core/testing'
import { describe, expect, it } from 'vitest'
import { createLocalTransport } from '../src/index.js'
import { temporaryDirectory, tree } from './support.js'

const modeOf = async (path: string) => (await stat(path)).mode & 0o777

describe('local transport file modes', () => {
  it('creates the base and the directories of a key 0700, and the artifact 0600', async () => {
    const base = join(await temporaryDirectory(), 'staging')
    await createLocalTransport({ base }).put('backup/volumes/0.tar', randomStream(100))

    expect(await modeOf(base)).toBe(0o700)
    expect(await modeOf(join(base, 'backup'))).toBe(0o700)
    expect(await modeOf(join(base, 'backup/volumes'))).toBe(0o700)
    expect(await modeOf(join(base, 'backup/volumes/0.tar'))).toBe(0o600)
  })

  it('writes the temporary file 0600 too, while the put is under way', async () => {
    const base = await temporaryDirectory()
    const body = new PassThrough()
    const putting = createLocalTransport({ base }).put('artifact', body)
    body.write(Buffer.alloc(1000))
    await expect.poll(() => tree(base)).toEqual([expect.stringMatching(/^\.artifact\.partial-/)])

    const [temp] = await tree(base)
    expect(await modeOf(join(base, temp ?? ''))).toBe(0o600)
    body.end()
    await putting
    expect(await tree(base)).toEqual(['artifact'])
  })

  it('leaves the mode of an existing base alone', async () => {
    const base = await temporaryDirectory()
    const before = await modeOf(base)
    await createLocalTransport({ base }).put('a/b', randomStream(1))
    expect(await modeOf(base)).toBe(before)
  })
})
