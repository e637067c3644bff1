import { posix } from 'node:path'
import { connectSsh, type SshOptions } from '@transship/core'
import createDebug from 'debug'
import type { Client, SFTPWrapper } from 'ssh2'
import { DRIVER_NAME, RemoteError } from './errors.js'
import { execFs } from './execFs.js'
import { hybridFs } from './hybridFs.js'
import type { RemoteFs } from './remoteFs.js'
import { Sftp } from './sftp.js'
import { sftpFs } from './sftpFs.js'

const debug = createDebug(`transship:${DRIVER_NAME}`)

/** Which way the transport talks to the server. */
export type Protocol = 'auto' | 'sftp' | 'exec'

/** How files move, for every connection of a transport. */
export interface TransferSettings {
  readonly protocol: Protocol
  readonly chunkSize: number
  readonly depth: number
  readonly fsync: boolean
  readonly commandThreshold: number
}

/** An open connection with its file operations and the resolved base path. */
export interface Session {
  readonly fs: RemoteFs
  /** The base path, absolute. */
  readonly base: string
  /** Who the connection goes to, for messages: `alias (user@host:port)`. */
  readonly target: string
}

/** Where connections come from: the transport's own, or a client the caller owns. */
export type ClientSource =
  | { readonly kind: 'owned'; readonly ssh: SshOptions }
  | { readonly kind: 'borrowed'; readonly client: Client; readonly target: string }

/**
 * Opens the connection on first use, and again after it dropped (for connections of its
 * own), and finds out whether the server speaks SFTP. When only the SFTP channel ends, the
 * next call opens a new one (over a new connection of its own). Temporary files that a
 * dropped connection left behind are removed once a new one is open.
 */
export class Sessions {
  readonly #source: ClientSource
  readonly #path: string
  readonly #settings: TransferSettings
  #current:
    | { readonly session: Promise<Session>; readonly dispose: () => Promise<void> }
    | undefined
  #closed = false
  readonly #orphans = new Set<string>()

  /**
   * @param source - where the SSH client comes from.
   * @param path - the base path as given: absolute, or relative to the home directory
   *   (`x`, `~/x`, `~`).
   * @param settings - protocol and transfer settings.
   */
  constructor(source: ClientSource, path: string, settings: TransferSettings) {
    this.#source = source
    this.#path = path
    this.#settings = settings
  }

  /** The open session, opening one when there is none. */
  session(): Promise<Session> {
    if (this.#closed) return Promise.reject(new RemoteError('the transport is closed'))
    if (this.#current === undefined) this.#current = this.#open()
    return this.#current.session
  }

  /**
   * Remembers a temporary file that could not be removed (the connection had dropped),
   * to remove it through the next connection.
   */
  orphaned(path: string): void {
    this.#orphans.add(path)
  }

  /** Closes the connection when it is the transport's own; no session opens afterwards. */
  async close(): Promise<void> {
    this.#closed = true
    const current = this.#current
    this.#current = undefined
    await current?.dispose()
  }

  #open(): { session: Promise<Session>; dispose: () => Promise<void> } {
    let disposeConnection: () => Promise<void> = async () => {}
    let fs: RemoteFs | undefined
    const current = {
      session: (async () => {
        const connection = await this.#connect(() => forget())
        disposeConnection = connection.close
        fs = await openFs(connection.client, this.#settings, connection.target)
        fs.ended?.then(() => {
          if (this.#current === current) debug('%s: the SFTP session ended', connection.target)
          forget()
        })
        const session = { fs, base: await this.#resolveBase(fs), target: connection.target }
        await this.#removeOrphans(session)
        return session
      })(),
      dispose: async () => {
        fs?.close()
        await disposeConnection()
      },
    }
    /** Lets the next call open a new session, and ends this one. */
    const forget = () => {
      if (this.#current !== current) return
      this.#current = undefined
      void current.dispose()
    }
    current.session.catch(forget)
    return current
  }

  async #connect(
    dropped: () => void,
  ): Promise<{ client: Client; target: string; close: () => Promise<void> }> {
    const source = this.#source
    if (source.kind === 'borrowed') {
      // Nagle's algorithm would hold back every request/response exchange.
      source.client.setNoDelay(true)
      return { client: source.client, target: source.target, close: async () => {} }
    }
    const connection = await connectSsh(source.ssh)
    connection.client.once('close', () => {
      debug('%s: connection closed', connection.target)
      dropped()
    })
    return { client: connection.client, target: connection.target, close: connection.close }
  }

  async #resolveBase(fs: RemoteFs): Promise<string> {
    const path = this.#path
    if (path.startsWith('/')) return posix.normalize(path).replace(/(.)\/$/, '$1')
    const relative = path === '~' ? '' : path.replace(/^~\//, '')
    return posix.join(await fs.home(), relative).replace(/(.)\/$/, '$1')
  }

  async #removeOrphans(session: Session): Promise<void> {
    for (const path of [...this.#orphans]) {
      this.#orphans.delete(path)
      await session.fs.unlink(path).then(
        () => debug('%s: removed %s, left by a dropped connection', session.target, path),
        (error: unknown) => debug('%s: cannot remove %s: %s', session.target, path, error),
      )
    }
  }
}

/**
 * The file operations `settings.protocol` asks for: `sftp` or `exec` alone; or for `auto`,
 * SFTP, with large transfers streamed through `cat` when the server runs commands (see
 * {@link hybridFs}), and commands for everything when there is no SFTP.
 */
async function openFs(client: Client, settings: TransferSettings, target: string) {
  if (settings.protocol === 'exec') return execFs(client, settings)
  let wrapper: SFTPWrapper
  try {
    wrapper = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp))),
    )
  } catch (error) {
    if (!/subsystem/i.test(String(error))) throw error
    if (settings.protocol === 'sftp') {
      throw new RemoteError('the server offers no SFTP subsystem', { cause: error })
    }
    debug('%s: no SFTP (%s): using commands over exec', target, error)
    return execFs(client, settings)
  }
  const sftp = new Sftp(wrapper)
  if (settings.protocol === 'sftp') return sftpFs(sftp, settings)
  return hybridFs(client, sftp, settings, target)
}
