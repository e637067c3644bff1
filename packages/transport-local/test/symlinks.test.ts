import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TransshipError } from '@transship/core'
import { drainToHash, randomStream } from '@transship/core/testing'
import { describe, expect, it } from 'vitest'
import { createLocalTransport } from '../src/index.js'
import { temporaryDirectory } from './support.js'

/** A base holding `escape -> <outside dir>` and `leak -> <outside dir>/secret`. */
async function baseWithEscapes() {
  const root = await temporaryDirectory()
  const base = join(root, 'base')
  const outside = join(root, 'outside')
  await mkdir(base)
  await mkdir(outside)
  await writeFile(join(outside, 'secret'), 'secret')
  await symlink(outside, join(base, 'escape'))
  await symlink(join(outside, 'secret'), join(base, 'leak'))
  return { base, outside, transport: createLocalTransport({ base }) }
}

async function expectRefused(promise: Promise<unknown>, key: string) {
  const error = await promise.then(
    () => expect.fail('expected a refusal'),
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TransshipError)
  expect(error).toMatchObject({ code: 'TRANSPORT_INVALID_KEY' })
  expect((error as Error).message).toMatch(
    `[transship] [local] refusing key ${JSON.stringify(key)}`,
  )
}

describe('local transport and symlinks', () => {
  it('refuses every method a key that leads out of base through a symlink', async () => {
    const { outside, transport } = await baseWithEscapes()
    await expectRefused(transport.put('escape/x', randomStream(10)), 'escape/x')
    await expectRefused(transport.put('escape/new/x', randomStream(10)), 'escape/new/x')
    await expectRefused(transport.get('escape/secret'), 'escape/secret')
    await expectRefused(transport.stat('escape/secret'), 'escape/secret')
    await expectRefused(transport.get('leak'), 'leak')
    await expectRefused(transport.stat('leak'), 'leak')
    await expectRefused(transport.list('escape'), 'escape')
    await expectRefused(transport.remove('escape'), 'escape')

    expect(await readdir(outside)).toEqual(['secret'])
  })

  it('refuses to list a tree that holds such a symlink, rather than list part of it', async () => {
    const { transport } = await baseWithEscapes()
    await expectRefused(transport.list(''), 'escape')
  })

  it('refuses a dangling symlink', async () => {
    const base = await temporaryDirectory()
    await symlink(join(base, '..', 'nowhere'), join(base, 'dangling'))
    const transport = createLocalTransport({ base })
    await expectRefused(transport.put('dangling/x', randomStream(1)), 'dangling/x')
    await expectRefused(transport.stat('dangling'), 'dangling')
  })

  it('follows symlinks that stay inside base', async () => {
    const base = await temporaryDirectory()
    const transport = createLocalTransport({ base })
    await transport.put('real/x', randomStream(10, 'x'))
    await symlink(join(base, 'real'), join(base, 'alias'))

    expect(await drainToHash(await transport.get('alias/x'))).toEqual(
      await drainToHash(randomStream(10, 'x')),
    )
    expect((await transport.list('')).map((stat) => stat.key)).toEqual(['alias/x', 'real/x'])
    await transport.remove('alias/x')
    expect(await transport.list('')).toEqual([])
  })

  it('reports a symlink loop instead of walking it forever', async () => {
    const base = await temporaryDirectory()
    const transport = createLocalTransport({ base })
    await transport.put('a/x', randomStream(1))
    await symlink(join(base, 'a'), join(base, 'a', 'loop'))
    await expect(transport.list('a')).rejects.toMatchObject({
      code: 'TRANSPORT_IO',
      message: expect.stringMatching(/a symlink loops back to/),
    })
  })

  it('works when base itself is reached through a symlink', async () => {
    const root = await temporaryDirectory()
    await mkdir(join(root, 'real'))
    await symlink(join(root, 'real'), join(root, 'base'))
    const transport = createLocalTransport({ base: join(root, 'base') })
    await transport.put('a/x', randomStream(5))
    expect(await transport.list('a')).toMatchObject([{ key: 'a/x', size: 5 }])
    expect(await readdir(join(root, 'real', 'a'))).toEqual(['x'])
  })
})
