import type { Readable } from 'node:stream'
import type Dockerode from 'dockerode'
import { TransshipError } from '../errors.js'
import type { EngineClient } from './client.js'

/**
 * Uploads a tar stream into a container with `PUT /containers/{id}/archive`, and fails
 * with the stream's own error when the stream fails midway (a checksum or an unsafe
 * entry found while streaming): the request is aborted, never left waiting for data that
 * will not come. The stream is destroyed when the call ends.
 *
 * ## Example
 * ```ts
 * await putArchive(engine, helper, createReadStream('volume.tar'), {
 *   path: '/',
 *   action: 'fill volume data',
 * })
 * ```
 *
 * @param engine - the engine, for logging and errors.
 * @param container - the container to write into.
 * @param body - the tar stream.
 * @param options - `path` to extract at, `action` for logs, `signal` to abort.
 */
export async function putArchive(
  engine: EngineClient,
  container: Dockerode.Container,
  body: Readable,
  options: { path: string; action: string; signal?: AbortSignal },
): Promise<void> {
  const controller = new AbortController()
  let bodyError: unknown
  const onBodyError = (error: unknown) => {
    bodyError = error
    controller.abort(error)
  }
  const onAbort = () => controller.abort(options.signal?.reason)
  body.once('error', onBodyError)
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await engine.call(options.action, () =>
      container.putArchive(body, { path: options.path, abortSignal: controller.signal }),
    )
  } catch (error) {
    throw bodyError ?? error
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    body.destroy()
  }
  // The engine may answer before the stream has failed its last check: never take that
  // answer as success.
  if (bodyError !== undefined) throw bodyError
  if (!body.readableEnded) {
    throw new TransshipError(
      'ARCHIVE_INCOMPLETE',
      `${options.action}: the engine answered before the archive ended`,
    )
  }
}
