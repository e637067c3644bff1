/**
 * A transport of your own: artifacts kept in this process's memory, under `mem://NAME`. It
 * passes the conformance suite every transport must pass (`examples.test.ts`), and a
 * migration reaches it through `--via` once the CLI loads this module:
 *
 *   transship migrate web --to … --via mem://staging --transport-module ./examples/transport-memory.ts
 *
 * (one process holds the memory: a `migrate`, not a `backup` then a `restore`). A real one
 * (WebDAV, Azure Blob) has the same shape: a factory for the `Transport` contract, and its
 * URL scheme exported as `transportSchemes`.
 */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  type ArtifactStat,
  assertExpectation,
  defineTransport,
  type Transport,
  type TransportScheme,
  TransshipError,
} from '@transship/core'

type Store = Map<string, { bytes: Buffer; modified: Date }>

/** What each `mem://NAME` holds, by key, for as long as the process runs. */
const stores = new Map<string, Store>()

/**
 * The transport `mem://NAME` names: the same store for the same name. `defineTransport`
 * does what every transport must (key checks, not-found, the empty prefix, aborts, error
 * wrapping); what is left is this backend's own.
 */
export function memoryTransport(url: string): Transport {
  const name = /^mem:\/\/([a-z0-9_.-]+)\/?$/i.exec(url)?.[1]
  if (!name) {
    throw new TransshipError('TRANSPORT_URL_INVALID', `[memory] expected mem://NAME, got ${url}`)
  }
  const store: Store = stores.get(name) ?? new Map()
  stores.set(name, store)
  const statOf = (key: string): ArtifactStat | undefined => {
    const entry = store.get(key)
    return entry && { key, size: entry.bytes.length, modified: entry.modified }
  }
  const under = (prefix: string) => (key: string) =>
    prefix === '' || key === prefix || key.startsWith(`${prefix}/`)
  return defineTransport({
    name: 'memory',
    url: `mem://${name}`,
    async put(key, body, { expected }) {
      const chunks: Buffer[] = []
      for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer | string))
      const bytes = Buffer.concat(chunks)
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      assertExpectation('memory', key, url, { size: bytes.length, sha256 }, expected)
      store.set(key, { bytes, modified: new Date() })
      return statOf(key) as ArtifactStat
    },
    async get(key) {
      const entry = store.get(key)
      if (!entry) return undefined
      // In 64 KiB pieces, so that a slow reader holds the rest back.
      const size = 65536
      const pieces = Array.from({ length: Math.ceil(entry.bytes.length / size) }, (_, index) =>
        entry.bytes.subarray(index * size, (index + 1) * size),
      )
      return Readable.from(pieces, { objectMode: false })
    },
    stat: async (key) => statOf(key),
    list: async (prefix) =>
      [...store.keys()]
        .filter(under(prefix))
        .sort()
        .map((key) => statOf(key) as ArtifactStat),
    async remove(prefix) {
      for (const key of [...store.keys()].filter(under(prefix))) store.delete(key)
    },
  })
}

/** What `--transport-module` registers from this module. */
export const transportSchemes: readonly TransportScheme[] = [
  { scheme: 'mem', example: 'mem://NAME', open: (url) => memoryTransport(url) },
]
