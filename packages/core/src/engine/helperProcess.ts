import { existsSync, readFileSync } from 'node:fs'
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream'
import { helperBinaryPath } from '@transship/helper'
import type Dockerode from 'dockerode'
import { encodeTarHeader, endOfArchive, padding } from '../archive/tarWriter.js'
import { messageOf, TransshipError } from '../errors.js'
import { runLabels } from '../ledger/runContext.js'
import { type EngineClient, shortId } from './client.js'
import { HELPER_LABEL } from './helperContainer.js'
import { putArchive } from './putArchive.js'

/** Where the helper program is put in a helper container. */
const PROGRAM = '/.transship-helper'
/** How much of the program's stderr is kept: its error message, and its warnings. */
const STDERR_LIMIT = 1024 * 1024

/** What a helper program run needs. */
export interface HelperProcessOptions {
  /** An image the engine holds (the migrated container's own): nothing is pulled. */
  readonly image: string
  /** What it is for, e.g. `read volume data`: its label value, and in messages. */
  readonly purpose: string
  readonly mounts: readonly Dockerode.MountSettings[]
  /** The program's arguments, e.g. `['pack', '/volume']`. */
  readonly args: readonly string[]
  /** The only capabilities it gets (all others are dropped), e.g. `['DAC_READ_SEARCH']`. */
  readonly capabilities: readonly string[]
  readonly signal: AbortSignal
}

/** A helper program running in its container. */
export interface HelperProcess {
  /** What it writes to stdout. */
  readonly stdout: Readable
  /** Its stdin. */
  readonly stdin: Writable
  /**
   * What it wrote to stderr so far (its first MiB), raw bytes as latin1 characters, and
   * whether more was left out.
   */
  readonly stderr: () => { readonly text: string; readonly truncated: boolean }
  /**
   * Settles when it has exited: resolves on exit code 0, rejects with what it wrote to
   * stderr otherwise.
   */
  readonly exited: Promise<void>
}

/**
 * Whether transship's helper program can run on an engine: it is built for the engine's
 * architecture. Where it cannot, callers use the archive API alone.
 *
 * @param engine - the engine.
 * @return the program's path on this machine, or `undefined`.
 */
export async function helperProgramFor(engine: EngineClient): Promise<string | undefined> {
  const { Architecture } = await engine.info()
  let path: string
  try {
    path = helperBinaryPath(String(Architecture))
  } catch {
    return undefined
  }
  return existsSync(path) ? path : undefined
}

/** A helper program to run: on which engine, which build, and how. */
export interface HelperProcessRun extends HelperProcessOptions {
  readonly engine: EngineClient
  /** The program's path on this machine ({@link helperProgramFor}). */
  readonly program: string
}

/**
 * Runs transship's static helper program (`packages/helper`) in containers made for it,
 * all started at once, for `use`, and removes the containers afterwards, whatever happens.
 * Each container is created from an image its engine holds, with no network, every
 * capability dropped but `capabilities`, `no-new-privileges`, no log (its output is data,
 * read through the attach API, which works the same over ssh:// and tcp://), and the
 * program copied in through the archive API: nothing is needed inside the image.
 *
 * ## Example
 * ```ts
 * await withHelperProcesses([{
 *   engine, program, image, purpose: 'scan volume data', args: ['scan', '/tree'],
 *   capabilities: ['DAC_READ_SEARCH'], signal,
 *   mounts: [{ Type: 'volume', Source: 'data', Target: '/tree', ReadOnly: true }],
 * }], async ([scan]) => { for await (const chunk of scan.stdout) …; await scan.exited })
 * ```
 *
 * @param runs - the programs to run.
 * @param use - what to do with them, running, in the same order.
 * @return what `use` returns.
 * @throws TransshipError `HELPER_UNAVAILABLE` when a container cannot be made or started
 *   (the engine's error is its cause).
 */
export async function withHelperProcesses<T>(
  runs: readonly HelperProcessRun[],
  use: (helpers: HelperProcess[]) => Promise<T>,
): Promise<T> {
  const started = await Promise.allSettled(runs.map(startHelperProcess))
  const closers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  try {
    const failed = started.find((result) => result.status === 'rejected')
    if (failed) throw failed.reason
    return await use(closers.map((running) => running.helper))
  } finally {
    await Promise.all(closers.map((running) => running.close()))
  }
}

/** A started helper, and how to remove its container. */
interface RunningHelper {
  readonly helper: HelperProcess
  readonly close: () => Promise<void>
}

function startHelperProcess(run: HelperProcessRun): Promise<RunningHelper> {
  return startHelper(run).catch((error: unknown) => {
    throw unavailable(error, run)
  })
}

async function startHelper(run: HelperProcessRun): Promise<RunningHelper> {
  const { engine, signal } = run
  const id = await engine.createContainer({
    Image: run.image,
    Entrypoint: [PROGRAM],
    Cmd: [...run.args],
    User: '0:0',
    WorkingDir: '/',
    Labels: { ...runLabels(), [HELPER_LABEL]: run.purpose },
    NetworkDisabled: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    Healthcheck: { Test: ['NONE'] },
    HostConfig: {
      Mounts: [...run.mounts, ...(await imageVolumeCovers(engine, run))],
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      CapAdd: [...run.capabilities],
      SecurityOpt: ['no-new-privileges'],
      LogConfig: { Type: 'none', Config: {} },
    },
    abortSignal: signal,
  })
  const container = engine.docker.getContainer(id)
  let socket: (NodeJS.ReadWriteStream & Writable & { destroy(): void }) | undefined
  let stdout: Transform | undefined
  // The attach connection goes first: while the helper's output fills a connection nobody
  // reads, the engine (20.10) cannot finish killing it, and holds the container's lock.
  let removal: Promise<void> | undefined
  const remove = () => {
    socket?.destroy()
    stdout?.destroy()
    removal ??= engine
      .call(`remove helper container ${shortId(id)}`, () =>
        container.remove({ force: true, v: false }),
      )
      .then(
        () => {},
        () => {},
      )
    return removal
  }
  signal.addEventListener('abort', remove, { once: true })
  const close = async () => {
    signal.removeEventListener('abort', remove)
    await remove()
  }
  try {
    await putArchive(engine, container, Readable.from(programArchive(run.program)), {
      path: '/',
      action: `put transship-helper into ${shortId(id)}`,
      signal,
    })
    socket = (await engine.call(`attach to helper container ${shortId(id)}`, () =>
      container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
    )) as NodeJS.ReadWriteStream & Writable & { destroy(): void }
    const stderr: Buffer[] = []
    stdout = socket.pipe(demultiplex(stderr))
    await engine.call(`start helper ${run.args[0] ?? ''} in ${shortId(id)}`, () =>
      container.start(),
    )
    const exited = waitForExit(engine, container, run, stderr)
    // Nobody may be waiting when it fails: the caller learns of it from its stream first.
    exited.catch(() => {})
    const said = () => {
      const text = Buffer.concat(stderr).toString('latin1')
      return { text, truncated: text.length >= STDERR_LIMIT }
    }
    return { helper: { stdout, stdin: socket, exited, stderr: said }, close }
  } catch (error) {
    await close()
    throw error
  }
}

/**
 * A helper that could not be made or started: `HELPER_UNAVAILABLE`, which callers may
 * answer by using the archive API alone. An abort stays what it is.
 */
function unavailable(error: unknown, run: HelperProcessRun): unknown {
  if (run.signal.aborted) return error
  return new TransshipError(
    'HELPER_UNAVAILABLE',
    `transship-helper (${run.purpose}) cannot run on ${run.engine.url}: ${messageOf(error)}`,
    { cause: error },
  )
}

async function waitForExit(
  engine: EngineClient,
  container: Dockerode.Container,
  options: HelperProcessOptions,
  stderr: readonly Buffer[],
): Promise<void> {
  const action = `wait for helper ${options.args[0] ?? ''} in ${shortId(container.id)}`
  const { StatusCode } = (await engine.call(action, () =>
    container.wait({ abortSignal: options.signal }),
  )) as { StatusCode: number }
  if (StatusCode === 0) return
  const said = Buffer.concat(stderr).toString('utf8').trim() || 'it wrote nothing to stderr'
  throw new TransshipError(
    'HELPER_FAILED',
    `transship-helper (${options.purpose}) on ${engine.url} failed with exit code ${StatusCode}: ${said}`,
  )
}

/** A tar archive of the one program file, executable. */
function* programArchive(path: string): Generator<Buffer> {
  const program = readFileSync(path)
  yield encodeTarHeader({
    name: PROGRAM.slice(1),
    type: '0',
    mode: 0o755,
    size: program.length,
    mtime: Date.now() / 1000,
  })
  yield program
  yield Buffer.alloc(padding(program.length))
  yield endOfArchive()
}

/**
 * tmpfs mounts over the image's declared volumes (`VOLUME` in its Dockerfile) that no
 * mount covers: the engine would otherwise create an anonymous volume for each, and keep it.
 */
async function imageVolumeCovers(
  engine: EngineClient,
  options: HelperProcessOptions,
): Promise<Dockerode.MountSettings[]> {
  const image = await engine.call(`inspect image ${shortId(options.image)}`, (docker) =>
    docker.getImage(options.image).inspect(),
  )
  const covered = new Set(options.mounts.map((mount) => mount.Target))
  return Object.keys(image.Config?.Volumes ?? {})
    .filter((target) => !covered.has(target))
    .map((target) => ({ Type: 'tmpfs' as const, Source: '', Target: target }))
}

/**
 * Splits the attach stream of a container without a TTY: frames of an 8-byte header
 * (stream 1 stdout, 2 stderr; a big-endian length) and their payload. Forwards stdout as
 * slices of the chunks it came in (no copy), with backpressure; keeps the first 16 KiB of
 * stderr in `stderr`.
 */
function demultiplex(stderr: Buffer[]): Transform {
  const header = Buffer.alloc(8)
  let headerLength = 0
  /** Payload bytes of the current frame still to come, and which stream they belong to. */
  let remaining = 0
  let stream = 1
  let kept = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      let position = 0
      while (position < chunk.length) {
        if (remaining === 0) {
          const length = Math.min(8 - headerLength, chunk.length - position)
          chunk.copy(header, headerLength, position, position + length)
          headerLength += length
          position += length
          if (headerLength < 8) break
          headerLength = 0
          stream = header[0] ?? 1
          remaining = header.readUInt32BE(4)
          continue
        }
        const length = Math.min(remaining, chunk.length - position)
        const payload = chunk.subarray(position, position + length)
        if (stream === 2) {
          if (kept < STDERR_LIMIT)
            stderr.push(Buffer.from(payload.subarray(0, STDERR_LIMIT - kept)))
          kept += length
        } else {
          this.push(payload)
        }
        remaining -= length
        position += length
      }
      callback()
    },
    flush(callback: TransformCallback) {
      const inFrame = headerLength > 0 || remaining > 0
      callback(
        inFrame
          ? new TransshipError('HELPER_FAILED', `the helper's output ended inside a frame`)
          : null,
      )
    },
  })
}

/**
 * The error to report when moving data to or from helpers failed: transship's own
 * verdict on the data when there is one (an integrity or safety check), else what a
 * helper said when it exited with an error (the cause: a stream that ended early is only
 * its effect), else the error itself. Waits a moment for the helpers' exit codes.
 *
 * @param error - what the data's pipeline failed with.
 * @param helpers - the helpers it ran between.
 * @return the error to throw.
 */
export async function helperFailure(error: unknown, ...helpers: HelperProcess[]): Promise<Error> {
  if (error instanceof TransshipError && error.code !== 'HELPER_FAILED') return error
  const failures = helpers.map((helper) =>
    helper.exited.then(
      () => undefined,
      (reason: unknown) => reason,
    ),
  )
  const later = new Promise<undefined>((resolve) =>
    setTimeout(() => resolve(undefined), 2000).unref(),
  )
  for (const failure of failures) {
    const reason = await Promise.race([failure, later])
    if (reason instanceof TransshipError) return reason
  }
  return error instanceof Error ? error : new Error(messageOf(error))
}
