import { PassThrough, pipeline, type Readable } from 'node:stream'
import { messageOf, TransshipError } from '../errors.js'
import { GROUP_MANIFEST_KEY, MANIFEST_KEY } from '../manifest/schema.js'
import type { Transport } from '../transport/contract.js'
import { expectationGate } from '../transport/expectation.js'
import type { Codec, CodecName } from './codecs.js'

/** The codec of each transport {@link compressedTransport} made. */
const codecs = new WeakMap<Transport, CodecName>()

/**
 * A transport that compresses every artifact it stores and decompresses every artifact it
 * reads, streaming, with one codec; layered over the sealed transport, so that what is
 * sealed is already compressed (sealed bytes do not compress). A backup's manifest
 * (`<id>/manifest.json`, and a group's `<id>/group.json`) passes as it is: it says how the
 * rest was compressed, so it must be read without knowing that.
 *
 * `put`'s expectation is the plain artifact's; `put`, `stat` and `list` give the sizes as
 * stored (compressed): a compressed artifact's own size is known from the manifest alone.
 *
 * ## Example
 * ```ts
 * // What `backup({ transport: s3, secret, compress: 'zstd' })` stages through:
 * const zstd = findCodec('zstd')
 * const staging = zstd ? compressedTransport(sealedTransport(s3, secret), zstd) : s3
 * ```
 *
 * @param inner - where the compressed artifacts go.
 * @param codec - the codec.
 * @return the transport.
 */
export function compressedTransport(inner: Transport, codec: Codec): Transport {
  const transport: Transport = {
    name: inner.name,
    url: inner.url,
    async put(key, body, expected, options) {
      if (isManifest(key)) return inner.put(key, body, expected, options)
      const gate = expectationGate(inner.name, key, inner.url, expected)
      const compressed = pipeline(body, gate.stream, codec.compress(), () => {})
      return inner.put(key, compressed as unknown as Readable, undefined, options)
    },
    async get(key, options) {
      const stored = await inner.get(key, options)
      return isManifest(key) ? stored : decompressed(stored, codec, `${inner.url}/${key}`)
    },
    stat: (key, options) => inner.stat(key, options),
    list: (prefix, options) => inner.list(prefix, options),
    remove: (prefix, options) => inner.remove(prefix, options),
    ...(inner.close ? { close: () => inner.close?.() ?? Promise.resolve() } : {}),
  }
  codecs.set(transport, codec.name)
  return transport
}

/**
 * The codec a transport compresses with.
 *
 * @param transport - a transport, compressed or not.
 * @return the codec's name, or `undefined` when it does not compress.
 */
export function codecOf(transport: Transport): CodecName | undefined {
  return codecs.get(transport)
}

function isManifest(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1)
  return name === MANIFEST_KEY || name === GROUP_MANIFEST_KEY
}

/**
 * The stored stream, decompressed; a stream that does not decompress fails with an error
 * naming the artifact and the codec.
 */
function decompressed(stored: Readable, codec: Codec, where: string): Readable {
  const decompressing = codec.decompress()
  const plain = new PassThrough()
  const fail = (error: Error) => {
    if (!plain.destroyed) plain.destroy(error)
  }
  // Listened to directly, not through `pipeline`: zlib reports a stream cut short after its
  // writable side has finished, when a pipeline may already have ended.
  stored.on('error', fail)
  decompressing.on('error', (error) =>
    fail(
      error instanceof TransshipError
        ? error
        : new TransshipError(
            'INTEGRITY',
            `artifact ${where} is corrupt: it does not decompress as ${codec.name} (${messageOf(error)})`,
            { cause: error },
          ),
    ),
  )
  stored.pipe(decompressing).pipe(plain)
  // A reader that stops early stops the read from the staging too.
  plain.once('close', () => {
    if (plain.readableEnded) return
    stored.destroy()
    decompressing.destroy()
  })
  return plain
}
