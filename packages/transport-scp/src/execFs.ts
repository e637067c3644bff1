import { once } from 'node:events'
import { posix } from 'node:path'
import { PassThrough, type Readable } from 'node:stream'
import type { Client, ClientChannel } from 'ssh2'
import { BodyChunks } from './bodyChunks.js'
import { RemoteError } from './errors.js'
import type { RemoteFile, RemoteFs, RemoteStat } from './remoteFs.js'
import {
  type CommandResult,
  commandError,
  mustRun,
  openChannel,
  outcome,
  quote,
  run,
} from './shell.js'

/** How {@link execFs} writes files. */
export interface ExecFsOptions {
  /**
   * Sync each written file before it is renamed into place (`sync FILE`, else
   * `dd conv=fsync`, else `sync`).
   */
  readonly fsync: boolean
}

const NOT_THERE = /No such file or directory|Not a directory/

/** S_IFMT bits of a raw mode. */
const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000

/**
 * The remote file operations for servers without SFTP, as commands run over exec in the
 * user's login shell (which must be a POSIX shell): `cat` streams data in and out, `find`
 * and `stat -c` list (GNU coreutils or BusyBox), `mv` renames, `rm` removes. Every command
 * runs with `LC_ALL=C`, so that its error messages can be told apart.
 *
 * @param client - an authenticated SSH client.
 * @param options - whether to sync written files.
 */
export function execFs(client: Client, options: ExecFsOptions): RemoteFs {
  const stat = async (path: string): Promise<RemoteStat | undefined> => {
    const result = await run(client, sh(`exec stat -L -c '%f %s %Y' -- ${quote(path)}`))
    if (result.code !== 0) {
      if (result.code === 1 && NOT_THERE.test(result.stderr)) return undefined
      throw commandError(result)
    }
    const [mode, size, mtime] = result.stdout.trim().split(' ')
    const type = Number.parseInt(mode ?? '', 16) & S_IFMT
    if (!/^[0-9a-f]+ \d+ \d+$/.test(result.stdout.trim())) {
      throw new RemoteError(`unexpected output of stat: ${JSON.stringify(result.stdout)}`)
    }
    const kind = type === S_IFREG ? 'file' : type === S_IFDIR ? 'directory' : 'other'
    return { kind, size: Number(size), modified: new Date(Number(mtime) * 1000) }
  }

  return {
    protocol: 'exec',

    home: async () => (await mustRun(client, 'pwd')).trim(),

    stat,

    async listFiles(directory) {
      const result = await run(
        client,
        sh(`exec find -L ${quote(directory)} -type f -exec stat -L -c '%s %Y %n' {} +`),
      )
      if (result.code !== 0) {
        const missing = result.stdout === '' && NOT_THERE.test(result.stderr)
        if (missing && !(await stat(directory))) return []
        throw commandError(result)
      }
      const found: RemoteFile[] = []
      for (const line of result.stdout.split('\n')) {
        if (line === '') continue
        const match = /^(\d+) (\d+) (.*)$/.exec(line)
        const path = match?.[3]
        if (!match || path === undefined || !path.startsWith(`${directory}/`)) {
          throw new RemoteError(`unexpected line in the listing of ${directory}: ${line}`)
        }
        found.push({
          path: path.slice(directory.length + 1),
          size: Number(match[1]),
          modified: new Date(Number(match[2]) * 1000),
        })
      }
      return found
    },

    async writeFile(path, body, hash) {
      const chunks = new BodyChunks(body, hash)
      const size = await writeThroughCommand(client, path, chunks, body, {
        create: true,
        fsync: options.fsync,
      })
      return { size, sha256: chunks.sha256() }
    },

    async rename(from, to) {
      await mustRun(client, sh(`exec mv -f -- ${quote(from)} ${quote(to)}`))
    },

    async unlink(path) {
      await mustRun(client, sh(`exec rm -f -- ${quote(path)}`))
    },

    async read(path, failure) {
      // The file is opened first, so that a missing or unreadable file fails here, before
      // any data; stat then tells the size of what was opened.
      const channel = await openChannel(
        client,
        sh(`exec <${quote(path)} || exit; stat -L -c '%f %s' /dev/stdin || exit; exec cat`),
      )
      channel.end()
      const result = outcome(channel, false)
      const header = await firstLine(channel)
      const match = header === undefined ? null : /^([0-9a-f]+) (\d+)$/.exec(header)
      if (!match) {
        channel.close()
        const ended = await result
        if (header === undefined && NOT_THERE.test(ended.stderr)) return undefined
        if (header === undefined && ended.code !== 0) throw commandError(ended)
        throw new RemoteError(`unexpected output of stat: ${JSON.stringify(header)}`)
      }
      if ((Number.parseInt(match[1] ?? '', 16) & S_IFMT) !== S_IFREG) {
        channel.close()
        return undefined
      }
      return verifiedOutput(channel, result, Number(match[2]), path, failure)
    },

    async removeTree(path, stopAt) {
      const parent = posix.dirname(path)
      const prune = parent.startsWith(`${stopAt}/`)
        ? `cd -- ${quote(stopAt)} && rmdir -p -- ${quote(parent.slice(stopAt.length + 1))} 2>/dev/null; `
        : ''
      await mustRun(client, sh(`rm -rf -- ${quote(path)} || exit; ${prune}exit 0`))
    },

    close() {},
  }
}

/**
 * Whether commands run in a POSIX shell on the server: not so for accounts restricted to
 * SFTP (`ForceCommand internal-sftp`), git-shell and the like.
 */
export async function canRunCommands(client: Client): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), PROBE_MS)
  })
  const probe = run(client, `printf '%s\\n' "transship-$((6 * 7))"`).catch(() => undefined)
  const result = await Promise.race([probe, timeout])
  clearTimeout(timer)
  return result?.code === 0 && result.stdout === 'transship-42\n'
}

const PROBE_MS = 10_000

/** Bytes a get's stream holds before it pauses the channel. */
const OUTPUT_BUFFER = 256 * 1024

/**
 * Streams the rest of a body into the file `path` through `cat`: a new file (mode 0600, in
 * missing directories made 0700; it must not exist), or appended to an existing one. Syncs
 * the file when asked, and checks that it then holds every byte read from the body.
 *
 * @param client - an authenticated SSH client.
 * @param path - the file.
 * @param chunks - the body's chunks, from where they stand.
 * @param body - the body itself, destroyed if the command ends before it.
 * @param how - create or append; fsync.
 * @return the file's size.
 * @throws RemoteError naming what the command said, or the body's error.
 */
export async function writeThroughCommand(
  client: Client,
  path: string,
  chunks: BodyChunks,
  body: Readable,
  { create, fsync }: { create: boolean; fsync: boolean },
): Promise<number> {
  const file = quote(path)
  const open = create
    ? `umask 077 && mkdir -p -- ${quote(posix.dirname(path))} && set -C && cat > ${file}`
    : `cat >> ${file}`
  const sync = fsync
    ? ` && { sync -- ${file} 2>/dev/null || dd if=/dev/null of=${file} conv=notrunc,fsync 2>/dev/null || sync; }`
    : ''
  const channel = await openChannel(client, sh(`${open}${sync} && exec wc -c < ${file}`))
  const result = outcome(channel, true)
  try {
    await feed(chunks, body, channel)
  } catch (error) {
    // Let the command end on what it has: the caller removes the file afterwards.
    channel.end()
    const ended = await result
    throw ended.code === 0 || ended.code === undefined ? error : commandError(ended)
  }
  const ended = await result
  if (ended.code !== 0) throw commandError(ended)
  const size = Number(ended.stdout.trim())
  if (size !== chunks.bytes) {
    throw new RemoteError(`the file holds ${size} bytes after ${chunks.bytes} were written`)
  }
  return size
}

/** Runs a script with `LC_ALL=C`, so that its error messages can be told apart. */
function sh(script: string): string {
  return `LC_ALL=C; export LC_ALL; ${script}`
}

/**
 * Writes the rest of a body to the command's input, with backpressure, and ends the input.
 *
 * @throws the body's error, or a RemoteError when the command stops reading.
 */
async function feed(chunks: BodyChunks, body: Readable, channel: ClientChannel): Promise<void> {
  let feeding = true
  // The command may end (the connection dropped, the disk is full) while the body is
  // waited for: that stops the body.
  const closed = once(channel, 'close').then(
    () => {
      if (feeding) body.destroy(new RemoteError('the remote command stopped reading its input'))
    },
    () => {},
  )
  try {
    for (let bytes = await chunks.next(); bytes !== undefined; bytes = await chunks.next()) {
      if (!channel.write(bytes)) await Promise.race([once(channel, 'drain'), closed])
    }
    channel.end()
  } finally {
    feeding = false
  }
}

/**
 * Reads the first line a command prints, and puts what follows it back into the channel.
 *
 * @return the line, or `undefined` when the command ended before printing one.
 */
function firstLine(channel: ClientChannel): Promise<string | undefined> {
  return new Promise((resolve) => {
    const seen: Buffer[] = []
    const onData = (chunk: Buffer) => {
      seen.push(chunk)
      const all = Buffer.concat(seen)
      const newline = all.indexOf(0x0a)
      if (newline < 0) return
      channel.off('data', onData)
      channel.off('end', onEnd)
      channel.pause()
      if (newline + 1 < all.length) channel.unshift(all.subarray(newline + 1))
      resolve(all.subarray(0, newline).toString())
    }
    const onEnd = () => {
      channel.off('data', onData)
      resolve(undefined)
    }
    channel.on('data', onData)
    channel.once('end', onEnd)
  })
}

/**
 * The command's output as a byte stream that ends only when the command exited with 0
 * after sending exactly `size` bytes, and fails otherwise. Backpressure reaches the
 * channel, whose window then holds the server back.
 */
function verifiedOutput(
  channel: ClientChannel,
  result: Promise<CommandResult>,
  size: number,
  path: string,
  failure: (error: unknown) => Error,
): Readable {
  // Room for a few channel packets: a smaller buffer would pause and resume the channel
  // at every packet.
  const output = new PassThrough({ highWaterMark: OUTPUT_BUFFER })
  let received = 0
  channel.on('data', (chunk: Buffer) => {
    received += chunk.length
    if (!output.write(chunk)) channel.pause()
  })
  output.on('drain', () => channel.resume())
  channel.resume()
  result.then((ended) => {
    if (output.destroyed) return
    if (ended.code !== 0) output.destroy(failure(commandError(ended)))
    else if (received !== size) {
      output.destroy(
        failure(
          new RemoteError(
            `${path} gave ${received} bytes instead of ${size}: it changed while it was read`,
          ),
        ),
      )
    } else output.end()
  })
  output.once('close', () => {
    if (!channel.destroyed) channel.close()
  })
  return output
}
