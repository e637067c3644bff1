import { messageOf, TransshipError } from '../errors.js'
import type { Transport } from './contract.js'

/** What opening a transport from its URL may take besides the URL. */
export interface TransportOpenOptions {
  /** An OpenSSH client config file, for the transports that reach hosts by SSH. */
  readonly sshConfig?: string
  /** Reports something the user should know (a default taken, a feature missing). */
  readonly onWarning?: (message: string) => void
}

/**
 * A kind of transport, by its URL scheme: what a transport package exports (as
 * `transportSchemes`), so that `--via <scheme>://…` reaches it.
 *
 * ## Example
 * ```ts
 * export const transportSchemes: readonly TransportScheme[] = [
 *   { scheme: 'mem', example: 'mem://name', open: (url) => memoryTransport(url) },
 * ]
 * ```
 */
export interface TransportScheme {
  /** The URL scheme, lower case, without `:` (e.g. `s3`). */
  readonly scheme: string
  /** A URL of its form, for help and errors (e.g. `s3://bucket/prefix`). */
  readonly example: string
  /** Opens the transport a URL of this scheme names. */
  open(url: string, options: TransportOpenOptions): Transport | Promise<Transport>
}

/** A scheme whose package is loaded only when a URL names it. */
export interface LazyTransportScheme {
  readonly scheme: string
  readonly example: string
  /** Loads the package's schemes (`transportSchemes`). */
  load(): Promise<readonly TransportScheme[]>
}

/**
 * The transports a program reaches by URL: the schemes registered, each opened by its own
 * package. A built-in transport is registered lazily (its package loaded when a URL names
 * it, so that a local directory never loads the S3 SDK); another package's with
 * {@link TransportRegistry.loadModule}.
 *
 * ## Example
 * ```ts
 * const registry = new TransportRegistry()
 * await registry.loadModule('@acme/transship-transport-webdav')
 * const transport = await registry.open('webdav://files.example/staging')
 * ```
 */
export class TransportRegistry {
  readonly #schemes = new Map<string, TransportScheme | LazyTransportScheme>()

  /**
   * Registers a scheme; a later registration of the same scheme replaces it.
   *
   * @param scheme - the scheme, opened at once or loaded on use.
   * @return this registry.
   * @throws TransshipError `TRANSPORT_MODULE_INVALID` for a scheme that is not a URL scheme.
   */
  register(scheme: TransportScheme | LazyTransportScheme): this {
    if (!/^[a-z][a-z0-9+.-]*$/.test(scheme.scheme)) {
      throw new TransshipError(
        'TRANSPORT_MODULE_INVALID',
        `transport scheme ${JSON.stringify(scheme.scheme)} is not a lower-case URL scheme`,
      )
    }
    this.#schemes.set(scheme.scheme, scheme)
    return this
  }

  /**
   * Loads a transport package and registers the schemes it exports as `transportSchemes`.
   *
   * @param specifier - a package name or a path, as `import()` takes it.
   * @return the schemes it registered.
   * @throws TransshipError `TRANSPORT_MODULE_INVALID` naming the module: it does not load,
   *   or exports no `transportSchemes` list of schemes.
   */
  async loadModule(specifier: string): Promise<readonly string[]> {
    let loaded: { transportSchemes?: unknown }
    try {
      loaded = (await import(specifier)) as { transportSchemes?: unknown }
    } catch (cause) {
      throw new TransshipError(
        'TRANSPORT_MODULE_INVALID',
        `transport module ${JSON.stringify(specifier)} does not load: ${messageOf(cause)}`,
        { cause },
      )
    }
    const schemes = loaded.transportSchemes
    if (!Array.isArray(schemes) || schemes.length === 0 || !schemes.every(isScheme)) {
      throw new TransshipError(
        'TRANSPORT_MODULE_INVALID',
        `transport module ${JSON.stringify(specifier)} exports no transportSchemes: a list of { scheme, example, open(url, options) }`,
      )
    }
    for (const scheme of schemes) this.register(scheme)
    return schemes.map((scheme) => scheme.scheme)
  }

  /**
   * Opens the transport a URL names, through the package of its scheme.
   *
   * @param url - e.g. `file:///srv/staging`, `s3://bucket/prefix`.
   * @param options - what the transports may take besides the URL.
   * @return the transport.
   * @throws TransshipError `TRANSPORT_URL_INVALID` for a scheme nothing registered, naming
   *   the URL and the schemes there are; what the transport's own `open` throws.
   */
  async open(url: string, options: TransportOpenOptions = {}): Promise<Transport> {
    const name = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
    const entry = name === undefined ? undefined : this.#schemes.get(name)
    if (!entry) {
      throw new TransshipError(
        'TRANSPORT_URL_INVALID',
        `unsupported transport URL ${JSON.stringify(url)}: expected ${this.describe()} (another scheme needs its package: --transport-module SPEC)`,
      )
    }
    const scheme =
      'open' in entry ? entry : (await entry.load()).find((s) => s.scheme === entry.scheme)
    if (!scheme) {
      throw new TransshipError(
        'TRANSPORT_MODULE_INVALID',
        `the package registered for ${entry.scheme}:// exports no scheme ${entry.scheme}`,
      )
    }
    this.#schemes.set(scheme.scheme, scheme)
    return scheme.open(url, options)
  }

  /** The URL forms registered, for help and errors: `file:///dir, s3://bucket/prefix or …`. */
  describe(): string {
    const examples = [...this.#schemes.values()].map((scheme) => scheme.example)
    return examples.length <= 1
      ? (examples[0] ?? 'no transport')
      : `${examples.slice(0, -1).join(', ')} or ${examples.at(-1)}`
  }
}

function isScheme(value: unknown): value is TransportScheme {
  const scheme = value as Partial<TransportScheme> | null
  return (
    typeof scheme?.scheme === 'string' &&
    typeof scheme.example === 'string' &&
    typeof scheme.open === 'function'
  )
}
