import type { Readable } from 'node:stream'

/**
 * Runs an engine request whose body is `body`, and fails with the body's own error when
 * the body fails midway (a checksum or an unsafe entry found while streaming): the request
 * is aborted, never left waiting for data that will not come, and an answer the engine
 * gave before the body failed is not taken as success. The body is destroyed when the
 * request ends.
 *
 * ## Example
 * ```ts
 * await streamedRequest(body, signal, (abortSignal) =>
 *   container.putArchive(body, { path: '/', abortSignal }),
 * )
 * ```
 *
 * @param body - the request's body.
 * @param signal - aborts the request.
 * @param request - sends the request, aborting it on the signal it is given.
 * @return what the request returns.
 */
export async function streamedRequest<T>(
  body: Readable,
  signal: AbortSignal | undefined,
  request: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  // A body that failed before the request began (while an undo step was recorded, say)
  // emitted its error already: sending it would leave the request waiting forever.
  if (body.errored) throw body.errored
  if (body.destroyed) throw new Error('the request body was closed before the request began')
  const controller = new AbortController()
  let bodyError: unknown
  const onBodyError = (error: unknown) => {
    bodyError = error
    controller.abort(error)
  }
  const onAbort = () => controller.abort(signal?.reason)
  body.once('error', onBodyError)
  signal?.addEventListener('abort', onAbort, { once: true })
  let result: T
  try {
    result = await request(controller.signal)
  } catch (error) {
    throw bodyError ?? error
  } finally {
    signal?.removeEventListener('abort', onAbort)
    body.destroy()
  }
  if (bodyError !== undefined) throw bodyError
  return result
}
