import createDebug from 'debug'
import type { Client } from 'ssh2'
import { BodyChunks } from './bodyChunks.js'
import { DRIVER_NAME } from './errors.js'
import { canRunCommands, execFs, writeThroughCommand } from './execFs.js'
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

/** How {@link hybridFs} moves data. */
export interface HybridFsOptions extends SftpFsOptions {
  /**
   * Bytes from which data streams through `cat` rather than SFTP requests: a command costs
   * a shell's start (whatever the login shell's rc files do) before it pays off.
   */
  readonly commandThreshold: number
}

/**
 * The remote file operations over SFTP, with large transfers streamed through `cat` over
 * exec when the server runs commands: faster than pipelined SFTP requests, but each
 * command starts a login shell first. An upload starts over SFTP and, once it has sent
 * `commandThreshold` bytes, goes on through `cat >>`; a download of a file that large is
 * read through `cat`. Whether commands run is asked once, at the first large transfer.
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
  const commands = execFs(client, options)
  let runsCommands: Promise<boolean> | undefined
  const viaCommands = () => {
    runsCommands ??= canRunCommands(client).then((yes) => {
      debug(
        yes
          ? '%s: large transfers stream through commands'
          : '%s: commands do not run in a POSIX shell: data goes over SFTP only',
        target,
      )
      return yes
    })
    return runsCommands
  }

  return {
    ...requests,
    protocol: 'sftp+exec',

    async writeFile(path, body, hash) {
      const chunks = new BodyChunks(body, hash)
      const handle = await createExclusive(sftp, path)
      let open = true
      try {
        const stop = stopBodyWhenEnded(sftp, body)
        let size = await writePipelined(sftp, handle, chunks, options, {
          until: options.commandThreshold,
        }).finally(stop)
        if (!chunks.ended && (await viaCommands())) {
          await sftp.close(handle)
          open = false
          size = await writeThroughCommand(client, path, chunks, body, {
            create: false,
            fsync: options.fsync,
          })
          return { size, sha256: chunks.sha256() }
        }
        if (!chunks.ended) {
          const stopAgain = stopBodyWhenEnded(sftp, body)
          size = await writePipelined(sftp, handle, chunks, options, { from: size }).finally(
            stopAgain,
          )
        }
        const modified = await finishWrite(sftp, handle, size, options.fsync)
        open = false
        return { size, sha256: chunks.sha256(), modified }
      } catch (error) {
        if (open) await sftp.close(handle).catch(() => {})
        throw await explainWriteFailure(sftp, path, error, options)
      }
    },

    async read(path, failure) {
      const info = await requests.stat(path)
      if (info?.kind !== 'file') return undefined
      if (info.size >= options.commandThreshold && (await viaCommands())) {
        return commands.read(path, failure)
      }
      return requests.read(path, failure)
    },
  }
}
