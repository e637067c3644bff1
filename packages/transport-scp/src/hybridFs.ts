import createDebug from 'debug'
import type { Client } from 'ssh2'
import { BodyChunks } from './bodyChunks.js'
import { DRIVER_NAME } from './errors.js'
import { type Appender, readThroughCommand, startAppender } from './execFs.js'
import type { RemoteFs } from './remoteFs.js'
import type { Sftp } from './sftp.js'
import {
  createExclusive,
  explainWriteFailure,
  finishWrite,
  type SftpFsOptions,
  sftpFs,
  stopBodyWhenEnded,
} from './sftpFs.js'
import { writePipelined } from './sftpWrite.js'

const debug = createDebug(`transship:${DRIVER_NAME}`)

/**
 * An upload starts the command that takes over from SFTP once it passed the threshold
 * divided by this (4 MiB of the default 64 MiB): late enough that small artifacts (a
 * manifest, a configuration) never start a shell, early enough that the shell's start
 * overlaps with SFTP.
 */
const COMMAND_START_DIVISOR = 16

/** How {@link hybridFs} moves data. */
export interface HybridFsOptions extends SftpFsOptions {
  /**
   * Bytes from which data streams through `cat` rather than SFTP requests: a command costs
   * a login shell's start (whatever its rc files do) before it pays off. An upload, whose
   * size is not known ahead, starts the command earlier: see {@link COMMAND_START_DIVISOR}.
   */
  readonly commandThreshold: number
}

/**
 * The remote file operations over SFTP, with large transfers streamed through `cat` over
 * exec when the server runs commands: faster than pipelined SFTP requests, but each
 * command starts a login shell first. An upload starts over SFTP; at a sixteenth of
 * `commandThreshold` it starts the command that will take over, whose shell then starts
 * while SFTP goes on, and hands the rest of the body to it as soon as the shell answers
 * (SFTP is the slower way: 120–180 MB/s on this project's test machine, `cat` 400–500).
 * A download of a file of `commandThreshold` bytes or more is read through `cat`. When
 * commands do not run (an account restricted to SFTP), everything goes over SFTP, and
 * commands are not tried again on this connection.
 *
 * @param client - the SSH client the SFTP session belongs to.
 * @param sftp - the SFTP session.
 * @param options - request size and count, fsync, the threshold.
 * @param target - who the connection goes to, for the log.
 */
export function hybridFs(
  client: Client,
  sftp: Sftp,
  options: HybridFsOptions,
  target: string,
): RemoteFs {
  const requests = sftpFs(sftp, options)
  const threshold = options.commandThreshold
  let commandsRun: boolean | undefined
  const noCommands = (why: unknown) => {
    if (commandsRun !== false) {
      debug('%s: commands do not run here (%s): data goes over SFTP only', target, why)
    }
    commandsRun = false
  }

  return {
    ...requests,
    protocol: 'sftp+exec',

    async writeFile(path, body, hash) {
      const chunks = new BodyChunks(body, hash)
      const handle = await createExclusive(sftp, path)
      let open = true
      let appender: Appender | undefined
      const stop = stopBodyWhenEnded(sftp, body)
      try {
        let size = 0
        if (commandsRun !== false) {
          const commandStart = Math.floor(threshold / COMMAND_START_DIVISOR)
          size = await writePipelined(sftp, handle, chunks, options, {
            stopWhen: (reached) => reached >= commandStart,
          })
          if (!chunks.ended) {
            appender = startAppender(client, path, options.fsync)
            let answered = false
            void appender.ready.then(() => {
              answered = true
            })
            size = await writePipelined(sftp, handle, chunks, options, {
              from: size,
              stopWhen: () => answered,
            })
          }
        }
        if (!chunks.ended && appender && (await appender.ready)) {
          stop()
          await sftp.close(handle)
          open = false
          const written = size
          size = await appender.append(chunks, body)
          debug('%s: %s: %d bytes over SFTP, the rest through cat', target, path, written)
          return { size, sha256: chunks.sha256() }
        }
        if (appender) {
          appender.cancel()
          if (!chunks.ended) noCommands('no answer from the shell')
        }
        size = await writePipelined(sftp, handle, chunks, options, { from: size })
        stop()
        const modified = await finishWrite(sftp, handle, size, options.fsync)
        open = false
        return { size, sha256: chunks.sha256(), modified }
      } catch (error) {
        stop()
        appender?.cancel()
        if (open) await sftp.close(handle).catch(() => {})
        throw await explainWriteFailure(sftp, path, error, options)
      }
    },

    async read(path, failure) {
      const info = await requests.stat(path)
      if (info?.kind !== 'file') return undefined
      if (info.size >= threshold && commandsRun !== false) {
        const read = await readThroughCommand(client, path, failure)
        if (read.kind === 'stream') return read.stream
        if (read.kind === 'missing') return undefined
        if (read.commandsRun) throw read.error
        noCommands(read.error.message)
      }
      return requests.read(path, failure)
    },
  }
}
