import { messageOf, TransshipError } from '@transship/core'

/** The transport's name: `Transport.name`, and the tag in its errors (`[transship] [scp] …`). */
export const DRIVER_NAME = 'scp'

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that errors are told apart by. */
export const SFTP_STATUS = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
} as const

/**
 * A failure the transport has already explained: what it means for the user (`permission
 * denied`, `no space left on the device`, …), thrown by the remote file operations and
 * turned into a `TRANSPORT_IO` error naming the key, the path and the host by
 * {@link transportError}.
 */
export class RemoteError extends Error {
  /**
   * @param message - what went wrong, in the user's terms.
   * @param options - `cause`: the SFTP or SSH error, or the remote command's output.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'RemoteError'
  }
}

/** Whether `error` is an SFTP status error with one of `codes`. */
export function hasSftpStatus(error: unknown, ...codes: number[]): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'number' && codes.includes(code)
}

/**
 * `error` itself when it is already a {@link TransshipError} of the transport's own, else a
 * `TRANSPORT_IO` error naming what failed, the key, the remote path and the host, with
 * `error` as its cause.
 *
 * @param action - `put`, `get`, …
 * @param key - the key or prefix asked for.
 * @param where - the remote path and the host, e.g. `/srv/x/a on root@b:22`.
 * @param error - what was thrown.
 */
export function transportError(
  action: string,
  key: string,
  where: string,
  error: unknown,
): TransshipError {
  if (error instanceof TransshipError && error.code.startsWith('TRANSPORT_')) return error
  return new TransshipError(
    'TRANSPORT_IO',
    `[${DRIVER_NAME}] cannot ${action} ${JSON.stringify(key)} at ${where}: ${explain(error)}`,
    { cause: error },
  )
}

/** What an error means, in the user's terms. */
function explain(error: unknown): string {
  if (error instanceof RemoteError) return error.message
  if (isAbort(error)) return 'aborted'
  if (hasSftpStatus(error, SFTP_STATUS.PERMISSION_DENIED)) return 'permission denied'
  if (hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) return 'no such file or directory'
  return messageOf(error)
}

/** Whether `error` is the rejection of an aborted signal or stream. */
export function isAbort(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'AbortError'
}

/** A `TRANSPORT_NOT_FOUND` error for `key`. */
export function notFound(key: string, where: string): TransshipError {
  return new TransshipError(
    'TRANSPORT_NOT_FOUND',
    `[${DRIVER_NAME}] nothing is stored under ${JSON.stringify(key)} (${where})`,
  )
}
