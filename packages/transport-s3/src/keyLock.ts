/**
 * Runs the actions given for one key one after the other, and those for different keys at
 * once.
 *
 * The transport commits a put (its PutObject or CompleteMultipartUpload) under the key's
 * lock: S3 makes each commit atomic, but S3-compatible servers that write the object in
 * place (s3rver, some gateways) would interleave two commits to one key into a mix of
 * both. Within one transport, the last commit wins whole.
 */
export class KeyLock {
  readonly #tails = new Map<string, Promise<void>>()

  /** Runs `action` once every action given before for `key` has settled. */
  async run<T>(key: string, action: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    const result = previous.then(action)
    const tail = result.then(
      () => {},
      () => {},
    )
    this.#tails.set(key, tail)
    try {
      return await result
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }
}
