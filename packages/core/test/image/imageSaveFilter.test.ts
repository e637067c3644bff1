import { describe, expect, it } from 'vitest'
import { TarScanner } from '../../src/archive/tarScanner.js'
import { imageSaveFilter } from '../../src/stages/image/imageSaveFilter.js'
import { type PackEntry, packTar, through } from '../archive/support.js'
import { CONFIG, DIRECTORIES, LAYER_JSON, LAYERS, MANIFEST_JSON } from './fixtures/legacySave.js'

const CHUNK_SIZES = [1, 511, 512, 513, 65536, 1 << 22]
const describeIt = 'docker save of the image'
const layerData = (index: number) => Buffer.alloc(5000 + index * 1000, 0x41 + index)

/** A legacy save as Docker 20.10 writes it: entries sorted by name, manifest.json near the end. */
async function legacySave(
  options: { json?: (directory: string, json: string) => string; manifest?: string } = {},
): Promise<Buffer> {
  const entries: PackEntry[] = DIRECTORIES.flatMap((directory, index) => [
    { name: `${directory}/`, type: 'directory' as const },
    { name: `${directory}/VERSION`, content: '1.0' },
    {
      name: `${directory}/json`,
      content: options.json?.(directory, LAYER_JSON[directory] as string) ?? LAYER_JSON[directory],
    },
    { name: `${directory}/layer.tar`, content: layerData(index) },
  ])
  entries.push({ name: CONFIG, content: '{"config":"the image config"}' })
  entries.push({ name: 'manifest.json', content: options.manifest ?? MANIFEST_JSON })
  entries.sort((a, b) => (a.name < b.name ? -1 : 1))
  return packTar(entries)
}

/** Three layers' diff IDs, listed bottom first; their blobs sort top first. */
const OCI_LAYERS = ['c', 'b', 'a'].map((digit) => `sha256:${digit.repeat(64)}`)
const OCI_CONFIG = `blobs/sha256/${'d'.repeat(64)}`
const blobOf = (diffId: string) => `blobs/sha256/${diffId.replace('sha256:', '')}`

/**
 * An OCI layout save as Docker 26.1 writes it (seen here): the blobs sorted by digest, each
 * layer's named by its diff ID, then index.json, manifest.json and oci-layout.
 */
async function ociSave(layers: readonly string[] = OCI_LAYERS): Promise<Buffer> {
  const manifest = JSON.stringify([
    { Config: OCI_CONFIG, RepoTags: null, Layers: layers.map(blobOf) },
  ])
  const blobs: PackEntry[] = [...new Set(layers)].map((layer, index) => ({
    name: blobOf(layer),
    content: layerData(index),
  }))
  blobs.push({ name: OCI_CONFIG, content: '{"config":"the image config"}' })
  blobs.sort((a, b) => (a.name < b.name ? -1 : 1))
  return packTar([
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...blobs,
    { name: 'index.json', content: '{"schemaVersion":2,"manifests":[]}' },
    { name: 'manifest.json', content: manifest },
    { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
  ])
}

/** Names and data sizes of an archive's entries, checking it is a whole archive. */
function listing(archive: Buffer): string[] {
  const names: string[] = []
  const scanner = new TarScanner((entry) => names.push(`${entry.name} ${entry.size}`))
  scanner.scan(archive)
  scanner.end()
  return names
}

describe('imageSaveFilter', () => {
  it.each(CHUNK_SIZES)(
    'leaves out the layer.tar of each bottom layer to omit, and nothing else (chunks of %i bytes)',
    async (chunkSize) => {
      const save = await legacySave()
      for (const omit of [0, 1, 2, 3]) {
        const filter = imageSaveFilter({ layers: LAYERS, omit, describe: describeIt })
        const output = await through(filter, save, chunkSize)
        const left = DIRECTORIES.slice(0, omit).map((d) => `${d}/layer.tar`)
        const expected = listing(save).filter((line) => !left.includes(line.split(' ')[0] ?? ''))
        expect(listing(output), `omit ${omit}`).toEqual(expected)
        expect(filter.omitted).toEqual(LAYERS.slice(0, omit))
        if (omit === 0) expect(output.equals(save)).toBe(true)
      }
    },
  )

  it.each(CHUNK_SIZES)(
    'leaves out the blob of each bottom layer to omit from an OCI layout save (chunks of %i bytes)',
    async (chunkSize) => {
      const save = await ociSave()
      for (const omit of [0, 1, 2, 3]) {
        const filter = imageSaveFilter({ layers: OCI_LAYERS, omit, describe: describeIt })
        const output = await through(filter, save, chunkSize)
        const left = OCI_LAYERS.slice(0, omit).map(blobOf)
        const expected = listing(save).filter((line) => !left.includes(line.split(' ')[0] ?? ''))
        expect(listing(output), `omit ${omit}`).toEqual(expected)
        expect(filter.omitted).toEqual(OCI_LAYERS.slice(0, omit))
      }
    },
  )

  it('keeps an OCI blob that a layer above the omitted ones needs too, and every layer above it', async () => {
    const [bottom, middle] = OCI_LAYERS as [string, string]
    const layers = [middle, bottom, middle] // the same diff ID twice: one blob
    const save = await ociSave(layers)
    const filter = imageSaveFilter({ layers, omit: 2, describe: describeIt })
    const names = listing(await through(filter, save, 4096)).map((line) => line.split(' ')[0])
    expect(names).toContain(blobOf(middle))
    expect(names).toContain(blobOf(bottom))
    expect(filter.omitted).toEqual([])
    // [top, bottom, middle, bottom, middle]: only the top's blob is no kept layer's too.
    const [top] = OCI_LAYERS.slice(2) as [string]
    const five = [top, bottom, ...layers]
    const second = imageSaveFilter({ layers: five, omit: 4, describe: describeIt })
    const kept = listing(await through(second, await ociSave(five), 4096))
    expect(kept.map((line) => line.split(' ')[0])).not.toContain(blobOf(top))
    expect(second.omitted).toEqual([top])
  })

  it('passes through whole a save it does not recognise the layers of', async () => {
    const save = await legacySave({ json: (_, json) => json.replace('1970', '1971') })
    const filter = imageSaveFilter({ layers: LAYERS, omit: 2, describe: describeIt })
    expect((await through(filter, save, 4096)).equals(save)).toBe(true)
    expect(filter.omitted).toEqual([])
  })

  it('passes through whole an archive of another layout', async () => {
    const other = await packTar([
      { name: 'blobs/sha256/abc', content: 'x' },
      { name: 'index.json', content: '{}' },
      { name: 'manifest.json', content: '[]' },
    ])
    const filter = imageSaveFilter({ layers: LAYERS, omit: 3, describe: describeIt })
    expect((await through(filter, other)).equals(other)).toBe(true)
    expect(filter.omitted).toEqual([])
  })

  it('omits only the top layers it recognised, while they are a bottom part of the image', async () => {
    const top = DIRECTORIES[2]
    const save = await legacySave({
      json: (directory, json) => (directory === top ? json.replace('"amd64"', '"arm64"') : json),
    })
    const filter = imageSaveFilter({ layers: LAYERS, omit: 3, describe: describeIt })
    await through(filter, save, 1000)
    expect(filter.omitted).toEqual(LAYERS.slice(0, 2))
  })

  it('fails when a layer was left out but one below it was not recognised', async () => {
    const bottom = DIRECTORIES[0]
    const save = await legacySave({
      json: (directory, json) => (directory === bottom ? json.replace('1970', '1971') : json),
    })
    const error = await through(
      imageSaveFilter({ layers: LAYERS, omit: 2, describe: describeIt }),
      save,
    ).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'IMAGE_SAVE_INVALID' })
    expect((error as Error).message).toContain('only layers 1 were recognised')
  })

  it('fails, without passing the end-of-archive marker, when manifest.json contradicts what was left out', async () => {
    const [bottom, middle, top] = DIRECTORIES as [string, string, string]
    const swapped = MANIFEST_JSON.replace(bottom, 'BOTTOM')
      .replace(middle, bottom)
      .replace('BOTTOM', middle)
    const save = await legacySave({ manifest: swapped })
    const output: Buffer[] = []
    const error = await through(
      imageSaveFilter({ layers: LAYERS, omit: 1, describe: describeIt }),
      save,
      700,
      (chunk) => output.push(chunk),
    ).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'IMAGE_SAVE_INVALID' })
    expect((error as Error).message).toContain(`${describeIt}: its manifest.json names`)
    const received = Buffer.concat(output)
    expect(received.length).toBe(save.length - 1024 - 512 - 5120) // no marker, no bottom layer.tar
    expect(received.includes(Buffer.from(`${top}/json`))).toBe(true)
  })

  it('fails when manifest.json is missing or describes another image', async () => {
    for (const manifest of ['', '[]', '[{"Layers":["a/layer.tar"]}]', 'not json']) {
      const save = await legacySave({ manifest })
      const error = await through(
        imageSaveFilter({ layers: LAYERS, omit: 1, describe: describeIt }),
        save,
      ).catch((caught: unknown) => caught)
      expect(error, manifest).toMatchObject({ code: 'IMAGE_SAVE_INVALID' })
    }
  })

  it('fails on an archive it cannot follow, naming it', async () => {
    const save = await legacySave()
    const error = await through(
      imageSaveFilter({ layers: LAYERS, omit: 1, describe: describeIt }),
      save.subarray(0, save.length - 3000),
    ).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'IMAGE_SAVE_INVALID' })
    expect((error as Error).message).toContain(
      `${describeIt} is not an archive that can be followed`,
    )
  })
})
