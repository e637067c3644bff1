import type { Readable } from 'node:stream'
import {
  type ArtifactStat,
  assertExpectation,
  resolveSshOptions,
  type SshOptions,
  type Transport,
  TransshipError,
} from '@transship/core'
import type { Client } from 'ssh2'
import { DRIVER_NAME, notFound, transportError } from './errors.js'
import { byKey, checkKey, checkPrefix, isTempName, remotePathOf, tempPathFor } from './keys.js'
import { type ClientSource, type Protocol, type Session, Sessions } from './session.js'
import { scpUrlOf } from './url.js'

/** Options shared by both forms of {@link createScpTransport}. */
export interface ScpTransferOptions {
  /**
   * The staging directory on the server: an absolute path, or one relative to the user's
   * home directory (`staging`, `~/staging`). Created, mode 0700, by the first `put`.
   */
  readonly path: string
  /**
   * How to talk to the server. `auto` (default): SFTP, with transfers of more than
   * `commandThreshold` bytes streamed through `cat` in the user's login shell, which is
   * faster than SFTP requests (SFTP alone when commands do not run there; commands alone
   * when the server has no SFTP). `sftp`: SFTP only, data in pipelined requests. `exec`:
   * commands only (`cat`, `find`, `stat`, `mv`, `rm`, `mkdir`, `wc` in a POSIX shell).
   */
  readonly protocol?: Protocol
  /** Bytes per SFTP read or write request (default 255 KiB, OpenSSH's largest). */
  readonly chunkSize?: number
  /** SFTP requests in flight per transfer (default 32). */
  readonly concurrency?: number
  /**
   * With `protocol: 'auto'`: bytes from which a transfer streams through `cat` rather than
   * SFTP requests (default 64 MiB). A command is faster for large transfers, but starts
   * the user's login shell first (and its rc files), which small transfers do not repay.
   */
  readonly commandThreshold?: number
  /**
   * Make each artifact durable on the server's disk before it is renamed into place
   * (default true; `fsync@openssh.com` over SFTP, `sync` over exec).
   */
  readonly fsync?: boolean
}

/**
 * Options of {@link createScpTransport} when it opens its own SSH connection: the core's
 * {@link SshOptions} (host or `~/.ssh/config` alias, port, user, identity files and
 * passphrase, agent, known_hosts, the explicit opt-out of host key checking, ProxyJump)
 * and the transfer options.
 */
export interface ScpTransportOptions extends SshOptions, ScpTransferOptions {}

/** Options of {@link createScpTransport} with an SSH client the caller owns. */
export interface ScpClientOptions extends ScpTransferOptions {
  /** A connected, authenticated ssh2 client; the transport neither reconnects nor ends it. */
  readonly client: Client
  /** The host it is connected to, for the transport's URL and messages. */
  readonly host?: string
}

const DEFAULT_CHUNK_SIZE = 255 * 1024
const DEFAULT_CONCURRENCY = 32
const DEFAULT_COMMAND_THRESHOLD = 64 * 1024 * 1024

/**
 * A transport that stages artifacts in a directory on an SSH host, through one persistent
 * ssh2 connection: over SFTP, in pipelined requests, with large transfers streamed through
 * `cat` over exec, or over commands alone for servers without SFTP. A `put` streams into a hidden temporary file
 * next to its target (`.<name>.partial-<hex>`, mode 0600, in directories created 0700),
 * and renames it into place once the server holds every byte and, when `expected` has a
 * sha256, once what it sent (hashed on the way) matches it. A connection that drops is opened again by the next call.
 *
 * ## Example
 * ```ts
 * const transport = createScpTransport({ host: 'backup-host', path: '/srv/staging' })
 * await transport.put('backup-1/volumes/0.tar', tarStream, { sha256 })
 * const stream = await transport.get('backup-1/volumes/0.tar')
 * await transport.close()
 * ```
 *
 * @param options - {@link ScpTransportOptions}, or {@link ScpClientOptions} with a client.
 * @return a {@link Transport} named `scp`, whose methods throw as the contract says; every
 *   `TRANSPORT_IO` message names the key, the remote path and the host, and keeps the SSH
 *   or SFTP error as `cause`.
 * @throws TransshipError `TRANSPORT_OPTIONS_INVALID` when `host` (or `client`) or `path`
 *   is missing.
 */
export function createScpTransport(options: ScpTransportOptions | ScpClientOptions): Transport {
  const invalid = (why: string) =>
    new TransshipError('TRANSPORT_OPTIONS_INVALID', `[${DRIVER_NAME}] ${why}`)
  if (typeof options?.path !== 'string' || options.path === '') {
    throw invalid('Missing required option `path`.')
  }
  if (options.path.replace(/\/+$/, '') === '') {
    throw invalid('`path` must name a staging directory, not the root directory.')
  }
  const settings = {
    protocol: options.protocol ?? 'auto',
    chunkSize: positive(options.chunkSize, 'chunkSize', invalid) ?? DEFAULT_CHUNK_SIZE,
    depth: positive(options.concurrency, 'concurrency', invalid) ?? DEFAULT_CONCURRENCY,
    fsync: options.fsync ?? true,
    commandThreshold:
      positive(options.commandThreshold, 'commandThreshold', invalid) ?? DEFAULT_COMMAND_THRESHOLD,
  }
  let source: ClientSource
  let label: string
  let url: string
  if ('client' in options && options.client !== undefined) {
    label = options.host ?? 'the SSH server'
    source = { kind: 'borrowed', client: options.client, target: label }
    url = scpUrlOf({ host: options.host ?? 'ssh-client', path: options.path })
  } else {
    const ssh = options as ScpTransportOptions
    if (typeof ssh.host !== 'string' || ssh.host === '') {
      throw invalid('Missing required option `host`.')
    }
    label = describeTarget(ssh)
    source = { kind: 'owned', ssh }
    url = scpUrlOf(ssh)
  }
  const sessions = new Sessions(source, options.path, settings)

  /** Runs `action` with the open session, wrapping its failures as the contract wants. */
  async function withSession<T>(
    action: string,
    asked: string,
    key: string,
    signal: AbortSignal | undefined,
    run: (session: Session, path: string) => Promise<T>,
  ): Promise<T> {
    let where = `${displayPath(options.path, key)} on ${label}`
    try {
      signal?.throwIfAborted()
      const session = await sessions.session()
      const path = remotePathOf(session.base, key)
      where = `${path} on ${session.target}`
      return await run(session, path)
    } catch (error) {
      throw transportError(action, asked, where, error)
    }
  }

  return {
    name: DRIVER_NAME,
    url,

    async put(key, body, expected, { signal } = {}) {
      checkKey(key)
      const stopOnAbort = () => body.destroy(signal?.reason)
      signal?.addEventListener('abort', stopOnAbort, { once: true })
      try {
        return await withSession('put', key, key, signal, async (session, path) => {
          const temp = tempPathFor(path)
          try {
            // Hashing costs CPU: only when there is a sha256 to match.
            const written = await session.fs.writeFile(temp, body, expected?.sha256 !== undefined)
            assertExpectation(DRIVER_NAME, key, `${path} on ${session.target}`, written, expected)
            signal?.throwIfAborted()
            await session.fs.rename(temp, path)
            return { key, size: written.size, modified: written.modified }
          } catch (error) {
            await session.fs.unlink(temp).catch(() => sessions.orphaned(temp))
            throw error
          }
        })
      } catch (error) {
        body.destroy()
        throw error
      } finally {
        signal?.removeEventListener('abort', stopOnAbort)
      }
    },

    async get(key, { signal } = {}) {
      checkKey(key)
      return withSession('get', key, key, signal, async (session, path) => {
        const where = `${path} on ${session.target}`
        const stream = await session.fs.read(path, (error) =>
          transportError('get', key, where, error),
        )
        if (stream === undefined) throw notFound(key, where)
        if (signal) abortWith(signal, stream)
        return stream
      })
    },

    async stat(key, { signal } = {}) {
      checkKey(key)
      return withSession('stat', key, key, signal, async (session, path) => {
        const info = await session.fs.stat(path)
        return info?.kind === 'file' ? { key, size: info.size, modified: info.modified } : undefined
      })
    },

    async list(prefix, { signal } = {}) {
      const key = checkPrefix(prefix)
      return withSession('list', prefix, key, signal, async (session, path) => {
        const info = await session.fs.stat(path)
        if (info?.kind === 'file' && key !== '') {
          return [{ key, size: info.size, modified: info.modified }]
        }
        if (info?.kind !== 'directory') return []
        const found: ArtifactStat[] = []
        for (const file of await session.fs.listFiles(path)) {
          if (isTempName(file.path.slice(file.path.lastIndexOf('/') + 1))) continue
          const fileKey = key === '' ? file.path : `${key}/${file.path}`
          found.push({ key: fileKey, size: file.size, modified: file.modified })
        }
        return found.sort(byKey)
      })
    },

    async remove(prefix, { signal } = {}) {
      const key = checkPrefix(prefix)
      if (key === '') {
        throw new TransshipError(
          'TRANSPORT_INVALID_KEY',
          `[${DRIVER_NAME}] refusing to remove the empty prefix: it would remove everything under ${options.path} on ${label}`,
        )
      }
      await withSession('remove', prefix, key, signal, (session, path) =>
        session.fs.removeTree(path, session.base),
      )
    },

    close: () => sessions.close(),
  }
}

/** `user@host:port` as far as it is known before connecting, for messages. */
function describeTarget(options: SshOptions): string {
  try {
    const resolved = resolveSshOptions(options)
    const address = `${resolved.username}@${resolved.hostName}:${resolved.port}`
    return resolved.host === resolved.hostName ? address : `${resolved.host} (${address})`
  } catch {
    return options.host
  }
}

/** The path of `key` as given, before the home directory is known. */
function displayPath(base: string, key: string): string {
  const trimmed = base.replace(/(.)\/+$/, '$1')
  const shown = trimmed.startsWith('/') || trimmed.startsWith('~') ? trimmed : `~/${trimmed}`
  return key === '' ? shown : `${shown}/${key}`
}

function positive(
  value: number | undefined,
  name: string,
  invalid: (why: string) => Error,
): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || value <= 0) {
    throw invalid(`\`${name}\` must be a positive integer, not ${value}.`)
  }
  return value
}

function abortWith(signal: AbortSignal, stream: Readable): void {
  const stop = () => stream.destroy(signal.reason)
  if (signal.aborted) stop()
  signal.addEventListener('abort', stop, { once: true })
  stream.once('close', () => signal.removeEventListener('abort', stop))
}
