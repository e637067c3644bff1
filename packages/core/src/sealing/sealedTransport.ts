import { pipeline, type Readable } from 'node:stream'
import type { ArtifactStat, Transport } from '../transport/contract.js'
import { expectationGate } from '../transport/expectation.js'
import { assertSafeKey } from '../transport/keys.js'
import { plainSize, sealedSize } from './sealedFormat.js'
import { openStream, sealStream } from './sealedStream.js'
import type { SecretKey } from './secretKey.js'

/**
 * A transport that seals every artifact it stores and opens every artifact it reads, with
 * one secret key ({@link sealStream}, docs/sealed-format.md): the staging behind it sees
 * only sealed bytes, under the same keys. Each artifact is sealed for its own key (its
 * backup id and name), so that one copied from another backup or another name, changed,
 * cut short, or sealed with another secret fails to open, with an error naming it.
 *
 * Sizes (`put`'s expectation, `stat`, `list`) are the plaintext's; its URL is the inner
 * transport's, so that an artifact recorded in a ledger is removed through the inner
 * transport alone (removal needs no key).
 *
 * ## Example
 * ```ts
 * const transport = sealedTransport(createS3Transport({ bucket }), (await readKeyFile(path)).secret)
 * backup({ source, container: 'db', transport })
 * ```
 *
 * @param inner - where the sealed artifacts go.
 * @param secret - the secret key.
 * @return the transport.
 */
export function sealedTransport(inner: Transport, secret: SecretKey): Transport {
  const plain = (stat: ArtifactStat): ArtifactStat => ({
    ...stat,
    // A size no sealed artifact has is left as it is: opening it fails, naming it.
    size: plainSize(stat.size) ?? stat.size,
  })
  return {
    name: inner.name,
    url: inner.url,
    async put(key, body, expected, options) {
      assertSafeKey(key, inner.name)
      const gate = expectationGate(inner.name, key, inner.url, expected)
      const sealed = pipeline(body, gate.stream, sealStream(secret, key), () => {})
      const innerExpected =
        expected?.size === undefined ? undefined : { size: sealedSize(expected.size) }
      const stored = await inner.put(key, sealed as unknown as Readable, innerExpected, options)
      return { ...plain(stored), size: gate.size() }
    },
    async get(key, options) {
      assertSafeKey(key, inner.name)
      const sealed = await inner.get(key, options)
      return pipeline(sealed, openStream(secret, key), () => {}) as unknown as Readable
    },
    async stat(key, options) {
      const stat = await inner.stat(key, options)
      return stat && plain(stat)
    },
    async list(prefix, options) {
      return (await inner.list(prefix, options)).map(plain)
    },
    remove: (prefix, options) => inner.remove(prefix, options),
    ...(inner.close ? { close: () => inner.close?.() ?? Promise.resolve() } : {}),
  }
}
