import type { Readable } from 'node:stream'
import type Dockerode from 'dockerode'
import { TransshipError } from '../errors.js'
import type { EngineClient } from './client.js'
import { streamedRequest } from './streamedRequest.js'

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
  await streamedRequest(body, options.signal, (abortSignal) =>
    engine.call(options.action, () =>
      container.putArchive(body, { path: options.path, abortSignal }),
    ),
  )
  // The engine stops reading at the end-of-archive marker: an answer before the whole
  // archive went through is not success.
  if (!body.readableEnded) {
    throw new TransshipError(
      'ARCHIVE_INCOMPLETE',
      `${options.action}: the engine answered before the archive ended`,
    )
  }
}
