import type { Readable } from 'node:stream'

/**
 * What the caller knows of an artifact before sending it. A transport that is given an
 * expectation refuses to commit an artifact that does not meet it.
 */
export interface ArtifactExpectation {
  /** Byte size the stream must have. */
  readonly size?: number
  /** Lower-case hex sha256 the stream must have. */
  readonly sha256?: string
}

/** An artifact as a transport stores it. */
export interface ArtifactStat {
  /** The key it was stored under, relative to the transport's base. */
  readonly key: string
  /** Its byte size. */
  readonly size: number
  /** When it was last written, where the backend keeps that. */
  readonly modified?: Date
}

/** Per-call options every transport method accepts. */
export interface TransportCallOptions {
  /** Aborts the call; a `put` aborted this way leaves nothing under its key. */
  readonly signal?: AbortSignal
}

/**
 * Moves archives between the two halves of a migration: a backup `put`s artifacts, a
 * restore `get`s them. Made by a factory (`createLocalTransport(options)`, …), like an
 * unstorage driver.
 *
 * Keys are relative, `/`-separated paths (`<backup id>/volumes/0.tar`); a key with `..`,
 * an empty segment or a leading `/` is refused with `TRANSPORT_INVALID_KEY`.
 *
 * Errors are {@link TransshipError}s whose code starts with `TRANSPORT_`:
 * `TRANSPORT_NOT_FOUND`, `TRANSPORT_INTEGRITY` (expectation not met), `TRANSPORT_INVALID_KEY`,
 * `TRANSPORT_IO` (anything else, with `cause`).
 */
export interface Transport {
  /** Short name of the kind of transport: `local`, `scp`, `s3`. */
  readonly name: string
  /** The URL this transport stores under, e.g. `file:///srv/staging`; never holds secrets. */
  readonly url: string

  /**
   * Stores a stream under `key`. The artifact becomes visible under `key` only once it is
   * complete and, when `expected` is given, once it matches: a failed or aborted `put`
   * leaves nothing new under `key` (an artifact stored there before stays as it was). A
   * successful `put` replaces an existing artifact under `key`.
   *
   * @throws TransshipError `TRANSPORT_INTEGRITY` when `expected` is not met.
   * @return the stored artifact's stat.
   */
  put(
    key: string,
    body: Readable,
    expected?: ArtifactExpectation,
    options?: TransportCallOptions,
  ): Promise<ArtifactStat>

  /**
   * Opens a stored artifact for reading.
   *
   * @throws TransshipError `TRANSPORT_NOT_FOUND` when nothing is stored under `key`.
   */
  get(key: string, options?: TransportCallOptions): Promise<Readable>

  /** The artifact under `key`, or `undefined` when there is none. */
  stat(key: string, options?: TransportCallOptions): Promise<ArtifactStat | undefined>

  /**
   * Every artifact at `prefix` or under it, a key path taken segment-wise, like `rm -r`
   * (`a` lists `a` itself, `a/x` and `a/y/z`, never `ab/x`; the empty prefix lists
   * everything), sorted by key.
   * Throws rather than return a partial listing.
   */
  list(prefix: string, options?: TransportCallOptions): Promise<ArtifactStat[]>

  /**
   * Removes every artifact under `prefix` (as in {@link list}); removing nothing is not an
   * error. The empty prefix is refused (`TRANSPORT_INVALID_KEY`): it would remove everything.
   */
  remove(prefix: string, options?: TransportCallOptions): Promise<void>

  /** Releases connections; the transport is not used afterwards. */
  close?(): Promise<void>
}
