import { posix } from 'node:path'
import type { Readable } from 'node:stream'
import createDebug from 'debug'
import { extract } from 'tar-stream'
import type { EngineClient } from '../../engine/client.js'
import { withHelperContainer } from '../../engine/helperContainer.js'
import { messageOf } from '../../errors.js'

const debug = createDebug('transship:checkpoint')

/** Where a helper container mounts the directory of a CRIU log. */
const LOG_MOUNT = '/criu-log'
/** More than any CRIU log seen (65 KB for a failed dump); the rest is not read. */
const MAX_LOG_SIZE = 16 * 1024 * 1024
/** Error lines CRIU logs on every run as root in a container, failing or not. */
const HARMLESS_ERRORS = [/RLIMIT_NOFILE/]
/** Error lines that only say that an earlier one failed. */
const CONSEQUENTIAL_ERRORS = [
  /Dumping FAILED/,
  /Dump files \(pid: \d+\) failed/,
  /Restoring FAILED/,
]
const MAX_ERROR_LINES = 3

/**
 * Why CRIU refuses established TCP connections, and what works: for the error of a failed
 * checkpoint and for `transship doctor`.
 */
export const TCP_ESTABLISHED_HELP =
  'CRIU refuses to checkpoint established TCP connections unless told to, and Docker’s API ' +
  'passes no such option. runc has CRIU read /etc/criu/runc.conf for both checkpoint and ' +
  'restore: the line `tcp-established` in that file, on the source’s and the destination’s ' +
  'host, lets CRIU save and restore them. That serves connections inside the container ' +
  '(over its loopback): they continue at the destination. A connection to a peer outside ' +
  'the container cannot follow it to another host (CRIU restores it only at the ' +
  'container’s old IP address): close those first. Put no other option in that file: runc ' +
  'reads it for every checkpoint and restore.'

/** What a CRIU failure was, in the user's terms. */
export interface CriuDiagnosis {
  /** The kind of failure, when it is recognised. */
  readonly cause: 'tcp-established' | 'device' | 'criu-missing' | 'non-root' | 'other'
  /** What went wrong: an explanation, or CRIU's own error lines. */
  readonly summary: string
  /** The CRIU version the log names. */
  readonly version?: string
  /** The log's path on the engine's host, when the engine named it. */
  readonly logPath?: string
}

/**
 * The CRIU log a failed checkpoint or restore names in the engine's error:
 * `... criu failed: ... path= /run/docker/.../criu-dump.log` (checkpoint) or
 * `log file: /run/docker/.../restore.log` (restore).
 *
 * @param message - the engine's error message.
 * @return the log's path on the engine's host, or `undefined`.
 */
export function criuLogPathIn(message: string): string | undefined {
  return /(?:path=|log file:)\s*(\/\S+\.log)\b/.exec(message)?.[1]
}

/**
 * Reads a file of the engine's host (a CRIU log) through a created helper container that
 * bind-mounts its directory read-only. Never fails: a log that cannot be read (already
 * removed with the container's task) gives `undefined`.
 *
 * @param engine - the engine whose host holds the log.
 * @param image - an image the engine holds, for the helper container.
 * @param path - the log's path on the engine's host.
 * @param signal - aborts the read.
 * @return the log's text (its first 16 MiB), or `undefined`.
 */
export async function readCriuLog(
  engine: EngineClient,
  image: string,
  path: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const mounts = [
    { Type: 'bind' as const, Source: posix.dirname(path), Target: LOG_MOUNT, ReadOnly: true },
  ]
  try {
    return await withHelperContainer(
      engine,
      { image, purpose: `read CRIU log ${path}`, mounts, ...(signal ? { signal } : {}) },
      async (helper) => {
        const archive = await engine.call(`read ${path}`, () =>
          helper.getArchive({
            path: `${LOG_MOUNT}/${posix.basename(path)}`,
            ...(signal ? { abortSignal: signal } : {}),
          }),
        )
        return firstFileOf(archive)
      },
    )
  } catch (error) {
    debug('%s: could not read %s: %s', engine.url, path, messageOf(error))
    return undefined
  }
}

/**
 * Explains a failed checkpoint or restore from the engine's error and CRIU's log.
 *
 * @param message - the engine's error message.
 * @param log - CRIU's log, when it could be read.
 * @return the diagnosis.
 */
export function explainCriuFailure(message: string, log: string | undefined): CriuDiagnosis {
  const logPath = criuLogPathIn(message)
  const version = log ? /Version: (\S+)/.exec(log)?.[1] : undefined
  const known = { ...(version ? { version } : {}), ...(logPath ? { logPath } : {}) }
  if (/criu.*(executable file not found|not found in \$PATH|no such file)/i.test(message)) {
    return {
      cause: 'criu-missing',
      summary: 'CRIU is not installed where the engine’s runtime (runc) looks for it (its PATH)',
      ...known,
    }
  }
  if (log && /Connected TCP socket/.test(log)) {
    return {
      cause: 'tcp-established',
      summary: 'a process of the container has an established TCP connection',
      ...known,
    }
  }
  // CRIU reads every process's limits with prlimit(), which needs CAP_SYS_RESOURCE for a
  // process of another user.
  if (log && /Can't get rlimit \d+: Operation not permitted/.test(log)) {
    return {
      cause: 'non-root',
      summary:
        'CRIU was not allowed to read the resource limits of a process that runs as a user ' +
        'other than root (the engine lacks CAP_SYS_RESOURCE)',
      ...known,
    }
  }
  const device = log
    ? /Can't dump file (\d+) of that type \[\w+\] \((chr|blk) (\d+:\d+)\)/.exec(log)
    : null
  if (device) {
    const kind = device[2] === 'chr' ? 'character' : 'block'
    return {
      cause: 'device',
      summary: `a process of the container holds a ${kind} device (${device[3]}) open as file descriptor ${device[1]}, which CRIU cannot save`,
      ...known,
    }
  }
  const errors = log ? errorLinesOf(log) : []
  if (errors.length > 0)
    return { cause: 'other', summary: `CRIU says: ${errors.join(' | ')}`, ...known }
  const gone =
    logPath && !log ? ' (CRIU’s log is gone: the engine removes it with the failed task)' : ''
  return { cause: 'other', summary: `${engineReasonOf(message)}${gone}`, ...known }
}

/**
 * Explains a failed checkpoint or restore, reading the CRIU log the engine's error names
 * (through a helper container of `image`) when there is one.
 *
 * @param engine - the engine that failed.
 * @param image - an image the engine holds, for the helper container.
 * @param error - the engine's error.
 * @param signal - aborts the log's read.
 * @return the diagnosis.
 */
export async function diagnoseCriuFailure(
  engine: EngineClient,
  image: string,
  error: unknown,
  signal?: AbortSignal,
): Promise<CriuDiagnosis> {
  const message = messageOf(error)
  const { logPath } = explainCriuFailure(message, undefined)
  const log = logPath ? await readCriuLog(engine, image, logPath, signal) : undefined
  return explainCriuFailure(message, log)
}

/**
 * The engine's reason without what the caller already says (`engine …: <action> failed:
 * HTTP 500:`) and without the log's path, e.g. `OCI runtime restore failed: criu failed:
 * type NOTIFY errno 0`.
 */
function engineReasonOf(message: string): string {
  return message
    .replace(/^engine \S+: .*? failed: (HTTP \d+: )?/, '')
    .replace(/\s*(path=|log file:)\s*\/\S+\.log\b/, '')
    .replace(/: unknown$/, '')
    .trim()
}

/** CRIU's error lines, without the harmless and the consequential ones, timestamps cut. */
function errorLinesOf(log: string): string[] {
  return log
    .split('\n')
    .filter((line) => /\bError \(/.test(line))
    .filter((line) => !HARMLESS_ERRORS.some((pattern) => pattern.test(line)))
    .filter((line) => !CONSEQUENTIAL_ERRORS.some((pattern) => pattern.test(line)))
    .map((line) => line.replace(/^\([\d.]+\)\s*/, '').trim())
    .slice(0, MAX_ERROR_LINES)
}

/** The text of the first file in a tar stream, up to {@link MAX_LOG_SIZE}. */
async function firstFileOf(archive: NodeJS.ReadableStream): Promise<string | undefined> {
  const entries = extract()
  ;(archive as Readable).pipe(entries)
  try {
    for await (const entry of entries) {
      if (entry.header.type !== 'file') {
        entry.resume()
        continue
      }
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        if (size < MAX_LOG_SIZE) chunks.push(chunk)
        size += chunk.length
      }
      return Buffer.concat(chunks).subarray(0, MAX_LOG_SIZE).toString('utf8')
    }
    return undefined
  } finally {
    ;(archive as Readable).destroy()
  }
}
