import { describe, expect, it } from 'vitest'
import { imageLoadGuard } from '../../src/stages/image/imageLoadGuard.js'
import { type PackEntry, packTar, through } from '../archive/support.js'
import { CONFIG, MANIFEST_JSON } from './fixtures/legacySave.js'

const IMAGE_ID = `sha256:${CONFIG.replace(/\.json$/, '')}`
const CHUNK_SIZES = [1, 511, 512, 513, 65536]
const guard = () => imageLoadGuard({ imageId: IMAGE_ID, describe: 'artifact b1/image.tar' })

/** A save of the image by id, as transship makes it, with `extra` entries and another manifest. */
function save(options: { manifest?: string; extra?: PackEntry[] } = {}): Promise<Buffer> {
  return packTar([
    { name: 'abc/', type: 'directory' },
    { name: 'abc/layer.tar', content: Buffer.alloc(3000, 0x41) },
    { name: CONFIG, content: '{"config":"the image config"}' },
    ...(options.extra ?? []),
    { name: 'manifest.json', content: options.manifest ?? MANIFEST_JSON },
  ])
}

async function refusedWith(archive: Buffer, chunkSize?: number): Promise<string> {
  const error = await through(guard(), archive, chunkSize).then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toMatchObject({ code: 'IMAGE_ARCHIVE_REFUSED' })
  expect((error as Error).message).toContain('artifact b1/image.tar is refused')
  return (error as Error).message
}

describe('imageLoadGuard', () => {
  it.each(CHUNK_SIZES)(
    'passes a save of the image by id through unchanged (chunks of %i)',
    async (size) => {
      const archive = await save()
      expect((await through(guard(), archive, size)).equals(archive)).toBe(true)
    },
  )

  it.each(CHUNK_SIZES)('refuses a save that tags the image (chunks of %i)', async (size) => {
    const tagged = MANIFEST_JSON.replace('"RepoTags":null', '"RepoTags":["redis:latest"]')
    expect(await refusedWith(await save({ manifest: tagged }), size)).toContain(
      'it tags the image redis:latest',
    )
  })

  it('refuses a repositories file, another image, two images, and no manifest at all', async () => {
    const repositories = { name: 'repositories', content: '{"redis":{"latest":"abc"}}' }
    expect(await refusedWith(await save({ extra: [repositories] }))).toContain('repositories')
    const other = MANIFEST_JSON.replace(CONFIG, `${'0'.repeat(64)}.json`)
    expect(await refusedWith(await save({ manifest: other }))).toContain(
      `it holds image ${'0'.repeat(64)}.json, not sha256:${CONFIG.replace('.json', '')}`,
    )
    const otherBlob = MANIFEST_JSON.replace(CONFIG, `blobs/sha256/${'0'.repeat(64)}`)
    expect(await refusedWith(await save({ manifest: otherBlob }))).toContain(
      `it holds image blobs/sha256/${'0'.repeat(64)}, not`,
    )
    const two = `[${JSON.parse(MANIFEST_JSON).map(JSON.stringify).join(',')},${JSON.parse(MANIFEST_JSON).map(JSON.stringify).join(',')}]`
    expect(await refusedWith(await save({ manifest: two }))).toContain('exactly one image')
    const none = await packTar([{ name: CONFIG, content: '{}' }])
    expect(await refusedWith(none)).toContain('no manifest.json')
  })

  it.each(CHUNK_SIZES)(
    'refuses an OCI index.json that names the image, and passes one that does not (chunks of %i)',
    async (size) => {
      const named = JSON.stringify({
        manifests: [
          { annotations: { 'io.containerd.image.name': 'docker.io/library/redis:latest' } },
        ],
      })
      const index = (content: string): PackEntry[] => [
        { name: 'index.json', content },
        { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
      ]
      expect(await refusedWith(await save({ extra: index(named) }), size)).toContain(
        'names the image docker.io/library/redis:latest',
      )
      const unnamed = await save({ extra: index(JSON.stringify({ manifests: [{}] })) })
      expect((await through(guard(), unnamed, size)).equals(unnamed)).toBe(true)
    },
  )
})
