import { messageOf, TransshipError } from '@transship/core'

/** The transport's name: `Transport.name`, and the tag in its errors (`[transship] [local] …`). */
export const DRIVER_NAME = 'local'

/**
 * `error` itself when it is already a {@link TransshipError}, else a `TRANSPORT_IO` error
 * naming what failed, the key and the path, with `error` as its cause.
 */
export function ioError(action: string, key: string, path: string, error: unknown): TransshipError {
  if (error instanceof TransshipError) return error
  return new TransshipError(
    'TRANSPORT_IO',
    `[${DRIVER_NAME}] cannot ${action} ${JSON.stringify(key)} at ${path}: ${messageOf(error)}`,
    { cause: error },
  )
}

/** Whether `error` is a Node.js system error with one of `codes` (`ENOENT`, …). */
export function hasCode(error: unknown, ...codes: string[]): boolean {
  return codes.includes((error as NodeJS.ErrnoException | undefined)?.code ?? '')
}
