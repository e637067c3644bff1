import { hkdfSync, randomBytes } from 'node:crypto'
import { type FileHandle, open, unlink } from 'node:fs/promises'
import { inspect } from 'node:util'
import { TransshipError } from '../errors.js'

/** Bytes of a secret key. */
export const SECRET_KEY_SIZE = 32

/** The first word of a key file's key line, with the version of its text form. */
export const SECRET_KEY_PREFIX = 'TRANSSHIP-SECRET-KEY-1'

/** A key file is a few lines: anything larger is not one (and is not read into memory). */
const MAX_KEY_FILE_SIZE = 4096

const KEY_LINE = new RegExp(`^${SECRET_KEY_PREFIX} ([A-Za-z0-9_-]{43})$`)

/**
 * The secret that seals and opens backups: 32 random bytes. It shows as its key id in
 * logs, `util.inspect` and JSON, never as its bytes, so that it cannot leak into the
 * events and state transship prints.
 */
export class SecretKey {
  readonly #bytes: Buffer
  #id: string | undefined

  private constructor(bytes: Buffer) {
    this.#bytes = bytes
  }

  /**
   * A new random key.
   *
   * @return the key.
   */
  static generate(): SecretKey {
    return new SecretKey(randomBytes(SECRET_KEY_SIZE))
  }

  /**
   * A key from its 32 bytes (copied).
   *
   * @param bytes - the key's bytes.
   * @return the key.
   * @throws TransshipError `KEY_INVALID` when `bytes` is not 32 bytes long.
   */
  static fromBytes(bytes: Uint8Array): SecretKey {
    if (bytes.length !== SECRET_KEY_SIZE) {
      throw new TransshipError(
        'KEY_INVALID',
        `a secret key is ${SECRET_KEY_SIZE} bytes, not ${bytes.length}`,
      )
    }
    return new SecretKey(Buffer.from(bytes))
  }

  /** The key's bytes, for key derivation only: never print or store them. */
  get bytes(): Buffer {
    return this.#bytes
  }

  /** The key's fingerprint ({@link keyId}). */
  get id(): string {
    this.#id ??= deriveKeyId(this.#bytes)
    return this.#id
  }

  toString(): string {
    return `SecretKey(${this.id})`
  }

  toJSON(): { keyId: string } {
    return { keyId: this.id }
  }

  [inspect.custom](): string {
    return this.toString()
  }
}

/**
 * The short fingerprint of a key, to show which key a backup was sealed with: 16 hex
 * digits derived from the key by HKDF-SHA256 under its own label, so that it reveals
 * nothing of the key nor of the keys that seal data.
 *
 * @param secret - the key.
 * @return 16 lower-case hex digits.
 */
export function keyId(secret: SecretKey): string {
  return secret.id
}

function deriveKeyId(bytes: Buffer): string {
  return Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), 'transship-key-id/1', 8)).toString(
    'hex',
  )
}

/**
 * The text of a key file: two comment lines, then `TRANSSHIP-SECRET-KEY-1 <base64url>`.
 *
 * @param secret - the key.
 * @return the file's content, ending with a newline.
 */
export function formatKeyFile(secret: SecretKey): string {
  return [
    '# transship secret key: seals and opens backups. Keep it secret, and keep a copy:',
    `# without it, no backup sealed with it can be restored. Key id ${secret.id}.`,
    `${SECRET_KEY_PREFIX} ${secret.bytes.toString('base64url')}`,
    '',
  ].join('\n')
}

/**
 * Reads the key out of a key file's text: one key line; blank lines and lines starting
 * with `#` are ignored.
 *
 * @param text - the file's content.
 * @param path - the file, for the error message (which never quotes the content).
 * @return the key.
 * @throws TransshipError `KEY_FILE_INVALID` naming `path` when the text holds no key line,
 *   several, or anything else.
 */
export function parseKeyFile(text: string, path: string): SecretKey {
  const lines = text
    .split('\n')
    .map((line) => line.replace(/\r$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
  const match = lines.length === 1 ? KEY_LINE.exec(lines[0] ?? '') : null
  const bytes = match?.[1] === undefined ? undefined : Buffer.from(match[1], 'base64url')
  // base64url has 4 spellings of 43 characters for the same 32 bytes: accept only the one
  // this module writes.
  if (!bytes || bytes.length !== SECRET_KEY_SIZE || bytes.toString('base64url') !== match?.[1]) {
    throw new TransshipError(
      'KEY_FILE_INVALID',
      `${path} is not a transship key file: expected one line ` +
        `"${SECRET_KEY_PREFIX} <43 base64url characters>" (write one with transship key generate)`,
    )
  }
  return SecretKey.fromBytes(bytes)
}

/**
 * Writes a new random key to a new file, readable and writable by its owner only (0600).
 * It never replaces a file: a key that sealed backups is lost with it.
 *
 * @param path - the file to create.
 * @return the new key.
 * @throws TransshipError `KEY_FILE_EXISTS` naming `path` when it exists (it is left as it
 *   was), `KEY_FILE_UNWRITABLE` when it cannot be created or written.
 */
export async function generateKeyFile(path: string): Promise<SecretKey> {
  const secret = SecretKey.generate()
  let handle: FileHandle
  try {
    handle = await open(path, 'wx', 0o600)
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new TransshipError(
        'KEY_FILE_EXISTS',
        `${path} exists already: a key file is never overwritten (the backups sealed with ` +
          'its key would no longer open); choose another name',
        { cause },
      )
    }
    throw new TransshipError('KEY_FILE_UNWRITABLE', `cannot create the key file ${path}`, {
      cause,
    })
  }
  try {
    await handle.writeFile(formatKeyFile(secret))
    // Backups sealed with the key must not outlive it after a crash.
    await handle.sync()
    await handle.close()
  } catch (cause) {
    await handle.close().catch(() => {})
    // This call created the file: a partial key must not stay behind.
    await unlink(path).catch(() => {})
    throw new TransshipError('KEY_FILE_UNWRITABLE', `cannot write the key file ${path}`, {
      cause,
    })
  }
  return secret
}

/** A key read from its file. */
export interface KeyFile {
  /** The file, as given. */
  readonly path: string
  readonly secret: SecretKey
  /** The file's permission bits, e.g. `0o600`. */
  readonly mode: number
  /**
   * True when the group or others may read the file (mode & 0o044): worth a warning, as
   * anyone who reads it can open and forge backups.
   */
  readonly readableByOthers: boolean
}

/**
 * Reads a key file written by {@link generateKeyFile}. It prints nothing: a caller warns
 * on {@link KeyFile.readableByOthers}.
 *
 * @param path - the key file.
 * @return the key and the file's mode.
 * @throws TransshipError naming `path`: `KEY_FILE_NOT_FOUND` when it does not exist,
 *   `KEY_FILE_UNREADABLE` when it cannot be read, `KEY_FILE_INVALID` when it is not a key
 *   file (a directory, too large, or not the expected text).
 */
export async function readKeyFile(path: string): Promise<KeyFile> {
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw new TransshipError('KEY_FILE_NOT_FOUND', `the key file ${path} does not exist`, {
        cause,
      })
    }
    throw new TransshipError('KEY_FILE_UNREADABLE', `cannot read the key file ${path}`, { cause })
  }
  try {
    const stats = await handle.stat()
    if (!stats.isFile() || stats.size > MAX_KEY_FILE_SIZE) {
      throw new TransshipError(
        'KEY_FILE_INVALID',
        `${path} is not a transship key file: ${stats.isFile() ? `${stats.size} bytes` : 'not a regular file'}`,
      )
    }
    const text = await handle.readFile('utf8').catch((cause: unknown) => {
      throw new TransshipError('KEY_FILE_UNREADABLE', `cannot read the key file ${path}`, {
        cause,
      })
    })
    const mode = stats.mode & 0o777
    return {
      path,
      secret: parseKeyFile(text, path),
      mode,
      readableByOthers: (mode & 0o044) !== 0,
    }
  } finally {
    await handle.close()
  }
}
