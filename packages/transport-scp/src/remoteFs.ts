import type { Readable } from 'node:stream'

/** What is at a remote path, symlinks followed. */
export interface RemoteStat {
  readonly kind: 'file' | 'directory' | 'other'
  readonly size: number
  readonly modified?: Date
}

/** A regular file found below a directory. */
export interface RemoteFile {
  /** Its path relative to the directory listed, `/`-separated. */
  readonly path: string
  readonly size: number
  readonly modified?: Date
}

/** What {@link RemoteFs.writeFile} wrote. */
export interface WrittenFile {
  /** Byte count, as the server reports it after writing. */
  readonly size: number
  /** sha256 of the bytes sent, computed while sending, when it was asked for. */
  readonly sha256?: string
  readonly modified?: Date
}

/**
 * The file operations the transport needs on the SSH host, over SFTP or, for servers
 * without it, over commands run through exec. Paths are absolute. Failures are SFTP
 * errors, or `RemoteError`s that say what went wrong in the user's terms.
 */
export interface RemoteFs {
  /**
   * Which way it talks to the server: `sftp`; `exec`; or `sftp+exec`, data streamed
   * through commands where they run, and the rest over SFTP.
   */
  readonly protocol: 'sftp' | 'exec' | 'sftp+exec'

  /**
   * Settles once these operations can no longer be used although the connection may be
   * open (the SFTP channel ended); absent when only the connection's end matters.
   */
  readonly ended?: Promise<void>

  /** The remote user's home directory, for base paths given relative to it. */
  home(): Promise<string>

  /** What is at `path`, symlinks followed; `undefined` when nothing is. */
  stat(path: string): Promise<RemoteStat | undefined>

  /**
   * Every regular file below the directory `path`, symlinks followed; none when `path`
   * is missing. Throws rather than return part of the tree.
   */
  listFiles(path: string): Promise<RemoteFile[]>

  /**
   * Writes `body` to the new file `path` (mode 0600; it must not exist), creating its
   * missing directories (mode 0700), and makes it durable where the server can; hashes
   * what it sends when `hash` is set. The file is left in place when this fails: the
   * caller removes it.
   */
  writeFile(path: string, body: Readable, hash: boolean): Promise<WrittenFile>

  /** Renames `from` to `to`, replacing what `to` holds. */
  rename(from: string, to: string): Promise<void>

  /** Removes the file `path`; a missing file is not an error. */
  unlink(path: string): Promise<void>

  /**
   * A stream of the regular file `path`, `undefined` when there is none. The stream fails,
   * rather than end, when it cannot deliver the whole file, with the error `failure` makes
   * of what went wrong.
   */
  read(path: string, failure: (error: unknown) => Error): Promise<Readable | undefined>

  /**
   * Removes `path` (a file, or a directory with everything below it; missing is fine),
   * then the directories above it left empty, up to but not including `stopAt`.
   */
  removeTree(path: string, stopAt: string): Promise<void>

  /** Releases what it holds on the connection (the SFTP channel). */
  close(): void
}
