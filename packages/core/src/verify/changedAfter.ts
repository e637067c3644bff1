import type { IncomingMessage } from 'node:http'
import type Dockerode from 'dockerode'
import { type EngineClient, shortId } from '../engine/client.js'
import { TransshipError } from '../errors.js'

/** The file the engine writes as it starts a container, before the container's process runs. */
const HOSTNAME_FILE = '/etc/hostname'

/** From when on the target's trees hold the target's own changes, and how that is known. */
export interface ChangedAfter {
  /** Nanoseconds since the epoch. */
  readonly at: bigint
  /** The same time as RFC 3339 text, from the engine. */
  readonly time: string
  /** `hostname`: the mtime of the engine's `/etc/hostname`; `started`: `State.StartedAt`. */
  readonly from: 'hostname' | 'started'
}

/**
 * From when on a target that has started may have changed its trees itself: the moment
 * its last start began. Every write of a migration happens before the start is requested;
 * the engine then writes the container's `/etc/hostname` (its own file, bind-mounted),
 * before the container's process exists, so that file's mtime (nanoseconds, through the
 * archive API's stat) falls between the two. `State.StartedAt` comes too late: the engine
 * takes it once the process runs, and a process that writes at once writes before it
 * (measured: 5-10 ms before). Where the engine has no such file for the container, or
 * its mtime is not between the container's creation and its start (another container's,
 * whose network namespace it shares), `State.StartedAt` is used.
 *
 * @param engine - the target's engine.
 * @param inspect - the target.
 * @param signal - aborts the call.
 * @return the time, or `undefined` for a target that never started.
 */
export async function changedAfter(
  engine: EngineClient,
  inspect: Dockerode.ContainerInspectInfo,
  signal: AbortSignal,
): Promise<ChangedAfter | undefined> {
  const started = engineTimeOf(inspect.State.StartedAt)
  if (started === undefined) return undefined
  const fromStart: ChangedAfter = { at: started, time: inspect.State.StartedAt, from: 'started' }
  const written = await hostnameWritten(engine, inspect.Id, signal)
  const at = written === undefined ? undefined : engineTimeOf(written)
  // A file written before the target was created is another container's (a shared
  // network namespace): it tells nothing of this start.
  const created = engineTimeOf(inspect.Created) ?? started
  return at !== undefined && at <= started && at > created
    ? { at, time: written as string, from: 'hostname' }
    : fromStart
}

/**
 * A stat is one small request: one that takes longer has hung (seen once with a HEAD
 * request through dockerode), and `State.StartedAt` serves instead.
 */
const STAT_TIMEOUT_MS = 10_000

/**
 * The mtime of the container's `/etc/hostname`, or `undefined` when it has none or the
 * engine does not say within {@link STAT_TIMEOUT_MS}.
 */
async function hostnameWritten(
  engine: EngineClient,
  container: string,
  signal: AbortSignal,
): Promise<string | undefined> {
  const timeout = AbortSignal.timeout(STAT_TIMEOUT_MS)
  const response = (await engine
    .call(`stat ${HOSTNAME_FILE} of container ${shortId(container)}`, (docker) =>
      docker.getContainer(container).infoArchive({
        path: HOSTNAME_FILE,
        abortSignal: AbortSignal.any([signal, timeout]),
      }),
    )
    .catch((error: unknown) => {
      if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') return undefined
      if (timeout.aborted && !signal.aborted) return undefined
      throw error
    })) as IncomingMessage | undefined
  if (!response) return undefined
  response.resume()
  const header = response.headers['x-docker-container-path-stat']
  if (typeof header !== 'string') return undefined
  try {
    const stat = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { mtime?: unknown }
    return typeof stat.mtime === 'string' ? stat.mtime : undefined
  } catch {
    return undefined
  }
}

/**
 * An engine's RFC 3339 time with nanoseconds (`State.StartedAt`, a file's mtime), in
 * nanoseconds since the epoch; `undefined` for the zero time of a container that never
 * started.
 *
 * @param time - e.g. `2026-12-03T12:00:00.123456789Z`.
 * @return the nanoseconds, or `undefined`.
 */
export function engineTimeOf(time: string): bigint | undefined {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time)
  if (!match || time.startsWith('0001-')) return undefined
  const milliseconds = Date.parse(`${match[1]}${match[3]}`)
  if (Number.isNaN(milliseconds)) return undefined
  return BigInt(milliseconds) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'))
}
