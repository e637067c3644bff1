import type { FileEntryWithStats, InputAttributes, OpenMode, SFTPWrapper, Stats } from 'ssh2'
import { hasSftpStatus, RemoteError, SFTP_STATUS } from './errors.js'

/** The file system statistics of `statvfs@openssh.com`, as ssh2 returns them. */
export interface StatVfs {
  readonly bsize: number
  readonly frsize: number
  readonly blocks: number
  readonly bfree: number
  readonly bavail: number
}

/**
 * Promise forms of the SFTP requests the transport makes, on one SFTP session. The
 * OpenSSH extensions (`posix-rename`, `fsync`, `statvfs`) are used when the server offers
 * them: ssh2 throws synchronously when it does not, which these turn into `undefined`.
 */
export class Sftp {
  /** Settles once the SFTP channel has ended: its requests are then never answered. */
  readonly ended: Promise<void>
  #open = true

  /** @param wrapper - an open SFTP session. */
  constructor(readonly wrapper: SFTPWrapper) {
    this.ended = new Promise<void>((resolve) => {
      const ended = () => {
        this.#open = false
        resolve()
      }
      wrapper.once('end', ended)
      wrapper.once('close', ended)
    })
  }

  /** Whether the SFTP channel is still open: requests sent now will be answered. */
  get isOpen(): boolean {
    return this.#open
  }

  /** stat(2), following symlinks; `undefined` when nothing is there. */
  stat(path: string): Promise<Stats | undefined> {
    return this.#call<Stats>((done) => this.wrapper.stat(path, done)).catch(orMissing)
  }

  /** lstat(2); `undefined` when nothing is there. */
  lstat(path: string): Promise<Stats | undefined> {
    return this.#call<Stats>((done) => this.wrapper.lstat(path, done)).catch(orMissing)
  }

  /** The entries of a directory, with their lstat attributes. */
  readdir(path: string): Promise<FileEntryWithStats[]> {
    return this.#call((done) => this.wrapper.readdir(path, done))
  }

  realpath(path: string): Promise<string> {
    return this.#call((done) => this.wrapper.realpath(path, done))
  }

  mkdir(path: string, attributes: InputAttributes): Promise<void> {
    return this.#call((done) => this.wrapper.mkdir(path, attributes, done))
  }

  rmdir(path: string): Promise<void> {
    return this.#call((done) => this.wrapper.rmdir(path, done))
  }

  unlink(path: string): Promise<void> {
    return this.#call((done) => this.wrapper.unlink(path, done))
  }

  /** Opens a file; `flags` as ssh2 takes them (`r`, `wx`, …). */
  open(path: string, flags: OpenMode, attributes: InputAttributes = {}): Promise<Buffer> {
    return this.#call((done) => this.wrapper.open(path, flags, attributes, done))
  }

  close(handle: Buffer): Promise<void> {
    return this.#call((done) => this.wrapper.close(handle, done))
  }

  fstat(handle: Buffer): Promise<Stats> {
    return this.#call((done) => this.wrapper.fstat(handle, done))
  }

  /** Renames `from` to `to`, replacing `to` atomically (`posix-rename@openssh.com`). */
  async rename(from: string, to: string): Promise<void> {
    const renamed = await this.#extension((done) => this.wrapper.ext_openssh_rename(from, to, done))
    if (renamed) return
    // Plain SFTP renames refuse to replace a file: remove it first (not atomic).
    await this.unlink(to).catch((error: unknown) => {
      if (!hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) throw error
    })
    await this.#call((done) => this.wrapper.rename(from, to, done))
  }

  /** fsync(2) of an open file; false when the server cannot (`fsync@openssh.com`). */
  fsync(handle: Buffer): Promise<boolean> {
    return this.#extension((done) => this.wrapper.ext_openssh_fsync(handle, done))
  }

  /** statvfs(3) of the file system holding `path`, when the server tells. */
  async statvfs(path: string): Promise<StatVfs | undefined> {
    let info: StatVfs | undefined
    const told = await this.#extension((done) =>
      this.wrapper.ext_openssh_statvfs(path, (error: Error | undefined, result: StatVfs) => {
        info = result
        done(error)
      }),
    )
    return told ? info : undefined
  }

  /** Ends the SFTP session (its channel); the SSH connection stays. */
  end(): void {
    this.wrapper.end()
  }

  #call<T = void>(
    request: (done: (error: Error | undefined | null, value: T) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // ssh2 drops requests sent on a closed channel without ever answering them.
      if (!this.#open) reject(sessionEnded())
      else request((error, value) => (error ? reject(error) : resolve(value)))
    })
  }

  /** Runs an extension request; resolves false when ssh2 says the server lacks it. */
  #extension(request: (done: (error?: Error | null) => void) => void): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (!this.#open) {
        reject(sessionEnded())
        return
      }
      try {
        request((error) => (error ? reject(error) : resolve(true)))
      } catch (error) {
        if (/does not support this extended request/.test(String(error))) resolve(false)
        else reject(error)
      }
    })
  }
}

/** The error of a request that cannot be answered: the SFTP channel has ended. */
export function sessionEnded(): RemoteError {
  return new RemoteError('the SFTP session ended (the connection dropped, or the server ended it)')
}

function orMissing(error: unknown): undefined {
  if (hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) return undefined
  throw error
}
