import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TransshipError } from '@transship/core'
import { randomArtifact } from '@transship/core/testing'
import { describe, expect, it } from 'vitest'
import { createLocalTransport, DRIVER_NAME, localTransportFromUrl } from '../src/index.js'
import { temporaryDirectory } from './support.js'

describe('localTransportFromUrl', () => {
  for (const form of ['file://', 'file:']) {
    it(`stores under the directory of a ${form}/absolute URL`, async () => {
      const base = await temporaryDirectory()
      const transport = localTransportFromUrl(`${form}${base}`)
      expect(transport.name).toBe(DRIVER_NAME)
      expect(transport.url).toBe(`file://${base}`)

      const artifact = await randomArtifact(10)
      await transport.put('a/b', artifact.stream())
      expect(await readFile(join(base, 'a/b'))).toHaveLength(10)
    })
  }

  it('decodes percent-encoded paths and takes localhost as this host', async () => {
    const base = join(await temporaryDirectory(), 'with space#1')
    const transport = localTransportFromUrl(
      `file://localhost${base.replace(/ /g, '%20').replace('#', '%23')}`,
    )
    await transport.put('x', (await randomArtifact(3)).stream())
    expect(await readFile(join(base, 'x'))).toHaveLength(3)
    expect(transport.url).toBe(`file://${base.replace(/ /g, '%20').replace('#', '%23')}`)
  })

  for (const [url, why] of [
    ['s3://bucket/prefix', /expected a file: URL/],
    ['/srv/staging', /expected a file: URL/],
    ['file:staging', /must be absolute/],
    ['file:./staging', /must be absolute/],
    ['file://fileserver/srv/staging', /host/],
    ['file:///srv/staging?x=1', /query or fragment/],
    ['file:///srv/staging#x', /query or fragment/],
  ] as const) {
    it(`refuses ${url}, naming it`, () => {
      const error = catchError(() => localTransportFromUrl(url))
      expect(error).toBeInstanceOf(TransshipError)
      expect(error).toMatchObject({ code: 'TRANSPORT_URL_INVALID' })
      expect((error as Error).message).toMatch(
        `[transship] [local] invalid URL ${JSON.stringify(url)}: `,
      )
      expect((error as Error).message).toMatch(why)
    })
  }
})

describe('createLocalTransport', () => {
  it('requires base', () => {
    const error = catchError(() => createLocalTransport({} as { base: string }))
    expect(error).toMatchObject({
      code: 'TRANSPORT_OPTIONS_INVALID',
      message: '[transship] [local] Missing required option `base`.',
    })
  })

  it('takes a relative base from the current directory', () => {
    expect(createLocalTransport({ base: 'staging' }).url).toBe(
      `file://${join(process.cwd(), 'staging')}`,
    )
  })
})

function catchError(action: () => unknown): unknown {
  try {
    action()
  } catch (error) {
    return error
  }
  return expect.fail('expected an error')
}
