import { once } from 'node:events'
import { posix } from 'node:path'
import { PassThrough, type Readable } from 'node:stream'
import { messageOf } from '@transship/core'
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
      const read = await readThroughCommand(client, path, failure)
      if (read.kind === 'stream') return read.stream
      if (read.kind === 'missing') return undefined
      throw read.error
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
 * What a command prints first: the shell computes it, so it shows that commands run in a
 * POSIX shell (not so for accounts restricted to SFTP, git-shell and the like), and marks
 * where the command's own output starts, after whatever the login shell's rc files print.
 */
const MARKER = 'transship-42'
const PRINT_MARKER = `printf '%s\\n' "transship-$((6 * 7))"`

/** How long a command may take to print {@link MARKER}. */
const MARKER_MS = 10_000

/** Bytes a get's stream holds before it pauses the channel. */
const OUTPUT_BUFFER = 256 * 1024

/** What {@link readThroughCommand} found. */
export type CommandRead =
  | { readonly kind: 'stream'; readonly stream: Readable }
  | { readonly kind: 'missing' }
  /** Commands do not run there, or failed: `error` says how. */
  | { readonly kind: 'failed'; readonly error: Error; readonly commandsRun: boolean }

/**
 * Reads the regular file `path` through `cat`. The file is opened first, so that a missing
 * or unreadable file fails before any data, and `stat` then tells the size of what was
 * opened: the stream ends only after exactly that many bytes and a clean exit, and fails
 * otherwise, with the error `failure` makes.
 *
 * @param client - an authenticated SSH client.
 * @param path - the file.
 * @param failure - makes the stream's error from what went wrong.
 */
export async function readThroughCommand(
  client: Client,
  path: string,
  failure: (error: unknown) => Error,
): Promise<CommandRead> {
  let channel: ClientChannel
  try {
    channel = await openChannel(
      client,
      sh(
        `${PRINT_MARKER}; exec <${quote(path)} || exit; ` +
          `stat -L -c '%f %s' /dev/stdin || exit; exec cat`,
      ),
    )
  } catch (error) {
    // The server refuses to run commands.
    return {
      kind: 'failed',
      error: new RemoteError(messageOf(error), { cause: error }),
      commandsRun: false,
    }
  }
  channel.end()
  const result = outcome(channel, false)
  const commandsRun = await markerSeen(channel)
  const header = commandsRun ? await firstLine(channel) : undefined
  const match = header === undefined ? null : /^([0-9a-f]+) (\d+)$/.exec(header)
  if (!match) {
    channel.close()
    const ended = await result
    if (commandsRun && header === undefined && NOT_THERE.test(ended.stderr)) {
      return { kind: 'missing' }
    }
    const error =
      header === undefined
        ? commandError(ended)
        : new RemoteError(`unexpected output of stat: ${JSON.stringify(header)}`)
    return { kind: 'failed', error, commandsRun }
  }
  if ((Number.parseInt(match[1] ?? '', 16) & S_IFMT) !== S_IFREG) {
    channel.close()
    return { kind: 'missing' }
  }
  return {
    kind: 'stream',
    stream: verifiedOutput(channel, result, Number(match[2]), path, failure),
  }
}

/** A command ready to append the rest of a body to a file: see {@link startAppender}. */
export interface Appender {
  /** Whether the command runs: true once it printed its marker, false if it cannot. */
  readonly ready: Promise<boolean>
  /**
   * Sends the rest of the body to be appended, syncs the file (when asked) and checks that
   * it then holds every byte read from the body. Only once `ready` is true.
   */
  append(chunks: BodyChunks, body: Readable): Promise<number>
  /** Ends the command without it touching the file. */
  cancel(): void
}

/**
 * Starts, ahead of time, a command that will append to the file `path`: the login shell
 * takes its time to start, which then overlaps with what is still being written. The
 * command waits for a `go` line before it opens the file; without one (see
 * {@link Appender.cancel}) it leaves the file alone.
 */
export function startAppender(client: Client, path: string, fsync: boolean): Appender {
  const file = quote(path)
  const opening = openChannel(
    client,
    sh(
      `${PRINT_MARKER}; IFS= read -r go && [ "$go" = go ] || exit 0; ${appendScript(file, fsync)}`,
    ),
  )
  const result = opening.then((channel) => outcome(channel, false))
  // Awaited only by `append`: a channel that never opened is not an unhandled rejection.
  result.catch(() => {})
  const ready = opening.then(markerSeen, () => false)
  let cancelled = false
  return {
    ready,
    async append(chunks, body) {
      const channel = await opening
      const stdout: Buffer[] = []
      channel.on('data', (chunk: Buffer) => stdout.push(chunk))
      channel.resume()
      channel.write('go\n')
      await feedUntilEnd(chunks, body, channel, result)
      return checkedSize(Buffer.concat(stdout).toString(), chunks.bytes)
    },
    cancel() {
      if (cancelled) return
      cancelled = true
      opening.then(
        (channel) => channel.end(),
        () => {},
      )
    },
  }
}

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
    ? `umask 077 && mkdir -p -- ${quote(posix.dirname(path))} && set -C && : > ${file} && set +C || exit; `
    : ''
  const channel = await openChannel(client, sh(`${open}${appendScript(file, fsync)}`))
  const ended = await feedUntilEnd(chunks, body, channel, outcome(channel, true))
  return checkedSize(ended.stdout, chunks.bytes)
}

/**
 * Feeds the rest of a body to a command that writes it, and waits for the command to end.
 * When either fails, the command's own error (a full disk, say) is the one thrown: it says
 * more than the broken pipe the body then meets.
 *
 * @throws RemoteError naming what the command said, or the body's error.
 */
async function feedUntilEnd(
  chunks: BodyChunks,
  body: Readable,
  channel: ClientChannel,
  result: Promise<CommandResult>,
): Promise<CommandResult> {
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
  return ended
}

/**
 * The script that appends its input to `file` with `cat`, then syncs it (when asked) and
 * prints its size. While `cat` runs, a background loop syncs the file every second (and
 * stops with the shell): the kernel would otherwise start writing a file of less than a
 * tenth of the RAM to disk only at the final sync, which then takes as long as the whole
 * write (1 GiB at 350 MB/s here: 0.43 s after the data, 0.23 s with the loop). The loop
 * does not hold the channel's output open: sshd would close the channel only once its
 * last `sleep` ended, half a second after the command on average.
 */
function appendScript(file: string, fsync: boolean): string {
  if (!fsync) return `cat >> ${file} && exec wc -c < ${file}`
  const syncFile =
    `{ sync -- ${file} 2>/dev/null || ` +
    `dd if=/dev/null of=${file} conv=notrunc,fsync 2>/dev/null || sync; }`
  return (
    `( while kill -0 $$ 2>/dev/null && sleep 1; do sync -- ${file} 2>/dev/null || exit 0; done ) ` +
    '</dev/null >/dev/null 2>&1 & ' +
    'syncing=$!; ' +
    `cat >> ${file}; copied=$?; kill $syncing 2>/dev/null; ` +
    `[ $copied = 0 ] && ${syncFile} && exec wc -c < ${file}`
  )
}

/**
 * The size `wc -c` printed (on the last line: rc files of the login shell may print before
 * it), checked against what was written.
 */
function checkedSize(stdout: string, written: number): number {
  const size = Number(stdout.trim().split('\n').at(-1)?.trim())
  if (size !== written) {
    throw new RemoteError(`the file holds ${size} bytes after ${written} were written`)
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
    if (channel.readableEnded) {
      resolve(undefined)
      return
    }
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
    // After an earlier line, the channel is paused: a new listener does not resume it.
    channel.resume()
  })
}

/**
 * Reads a command's output up to the line {@link MARKER}, within the first 64 KiB and
 * {@link MARKER_MS}.
 *
 * @return whether the marker came: commands run in a POSIX shell there.
 */
async function markerSeen(channel: ClientChannel): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), MARKER_MS)
  })
  const seen = (async () => {
    for (let read = 0; read < 64 * 1024; ) {
      const line = await firstLine(channel)
      if (line === undefined) return false
      if (line === MARKER) return true
      read += line.length + 1
    }
    return false
  })()
  const found = await Promise.race([seen, timeout])
  clearTimeout(timer)
  return found
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
