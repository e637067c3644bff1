// The image calls the image stages make, each through EngineClient.call (logged, errors
// naming the engine). Not part of the public API.

import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import type { EngineClient } from '../../engine/client.js'
import { findImage, shortImageId } from '../../engine/images.js'
import { streamedRequest } from '../../engine/streamedRequest.js'
import { TransshipError } from '../../errors.js'
import { mapConcurrent } from '../../pipeline/concurrent.js'

/** How many images are inspected at once when looking for shared layers. */
const INSPECT_CONCURRENCY = 8

/**
 * How many of `layers`, from the bottom, the engine already holds: the longest run of
 * them that some image of the engine starts with. A layer is held with those beneath it
 * (its chain), so a shared bottom run is what matters, not single layers.
 *
 * @param engine - the engine.
 * @param layers - diff IDs, bottom first.
 * @param signal - aborts the inspections.
 * @return the count, from 0 to `layers.length`.
 */
export async function heldLayerCount(
  engine: EngineClient,
  layers: readonly string[],
  signal: AbortSignal,
): Promise<number> {
  if (layers.length === 0) return 0
  const images = await engine.listImages()
  const counts = await mapConcurrent(images, INSPECT_CONCURRENCY, signal, async ({ Id }) => {
    const held = (await findImage(engine, Id))?.RootFS?.Layers ?? []
    let count = 0
    while (count < layers.length && held[count] === layers[count]) count++
    return count
  })
  return Math.max(0, ...counts)
}

/**
 * Opens `GET /images/{id}/get`: the image in `docker save` format, as a stream.
 *
 * @param engine - the engine holding the image.
 * @param id - the image ID; saved by ID, so the archive names no tag.
 * @param signal - aborts the request, and the stream with it.
 * @return the archive stream; destroy it if it is not read to its end.
 */
export function saveImage(
  engine: EngineClient,
  id: string,
  signal: AbortSignal,
): Promise<Readable> {
  return engine.call(
    `save image ${shortImageId(id)}`,
    (docker) =>
      new Promise<Readable>((resolve, reject) => {
        docker.modem.dial(
          {
            path: `/images/${id}/get`,
            method: 'GET',
            isStream: true,
            abortSignal: signal,
            statusCodes: { 200: true, 404: 'no such image', 500: 'server error' },
          },
          (error, stream) => (error ? reject(error) : resolve(stream as Readable)),
        )
      }),
  )
}

/**
 * Loads an image with `POST /images/load` from a `docker save` stream, and fails with the
 * stream's own error when the stream fails midway (a checksum found wrong while
 * streaming): the request is aborted, never left waiting. The stream is destroyed when
 * the call ends.
 *
 * @param engine - the engine to load into.
 * @param body - the archive.
 * @param options - `action` for logs and errors, `signal` to abort.
 * @return what the engine reports loaded: `sha256:…` IDs and `name:tag`s.
 * @throws TransshipError `IMAGE_LOAD_FAILED` when the engine reports a failure in its
 *   answer; the stream's error; the engine call's errors.
 */
export async function loadImage(
  engine: EngineClient,
  body: Readable,
  options: { action: string; signal: AbortSignal },
): Promise<string[]> {
  const answer = await streamedRequest(body, options.signal, (abortSignal) =>
    engine.call(
      options.action,
      (docker) =>
        new Promise<string>((resolve, reject) => {
          docker.modem.dial(
            {
              path: '/images/load?',
              method: 'POST',
              options: { quiet: '1' },
              file: body,
              isStream: true,
              abortSignal,
              statusCodes: { 200: true, 500: 'server error' },
            },
            (error, response) => {
              if (error) reject(error)
              else text(response as IncomingMessage).then(resolve, reject)
            },
          )
        }),
    ),
  )
  return loadedImages(engine, options.action, answer)
}

/** Reads the engine's JSON messages after a load: what it loaded, or the error it reports. */
function loadedImages(engine: EngineClient, action: string, answer: string): string[] {
  const loaded: string[] = []
  for (const line of answer.split(/\r?\n/)) {
    if (line.trim() === '') continue
    let message: { stream?: unknown; error?: unknown; errorDetail?: { message?: unknown } }
    try {
      message = JSON.parse(line)
    } catch {
      continue
    }
    const failure = message.errorDetail?.message ?? message.error
    if (failure !== undefined) {
      throw new TransshipError(
        'IMAGE_LOAD_FAILED',
        `engine ${engine.url}: ${action} failed: ${String(failure).trim()}`,
      )
    }
    const stream = typeof message.stream === 'string' ? message.stream : ''
    const match = /^Loaded image(?: ID)?: (.+)$/m.exec(stream)
    if (match?.[1]) loaded.push(match[1].trim())
  }
  return loaded
}

/**
 * Tags an image.
 *
 * @param engine - the engine.
 * @param id - the image ID.
 * @param tag - `repository:tag`, as `RepoTags` lists it.
 */
export async function tagImage(engine: EngineClient, id: string, tag: string): Promise<void> {
  const { repo, tag: name } = splitTag(tag)
  await engine.call(`tag image ${shortImageId(id)} as ${tag}`, (docker) =>
    docker.getImage(id).tag({ repo, tag: name }),
  )
}

/**
 * Removes an image with its tags; nothing to do when it is gone already.
 *
 * @param engine - the engine.
 * @param id - the image ID.
 */
export async function removeImage(engine: EngineClient, id: string): Promise<void> {
  try {
    await engine.call(`remove image ${shortImageId(id)}`, (docker) =>
      docker.getImage(id).remove({ force: true }),
    )
  } catch (error) {
    if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') return
    throw error
  }
}

/** `registry:5000/team/app:1.2` → repository `registry:5000/team/app`, tag `1.2`. */
function splitTag(reference: string): { repo: string; tag: string } {
  const colon = reference.lastIndexOf(':')
  if (colon > reference.lastIndexOf('/')) {
    return { repo: reference.slice(0, colon), tag: reference.slice(colon + 1) }
  }
  return { repo: reference, tag: 'latest' }
}
