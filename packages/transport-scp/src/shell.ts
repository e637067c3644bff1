import type { Client, ClientChannel } from 'ssh2'
import { RemoteError } from './errors.js'

/** How a remote command ended. */
export interface CommandResult {
  /** The exit code; `undefined` when the command was killed or the connection dropped. */
  readonly code: number | undefined
  /** The signal that killed it, as the server reports it. */
  readonly signal: string | undefined
  readonly stdout: string
  readonly stderr: string
}

/** Quotes `text` as one word for a POSIX shell. */
export function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

/** Opens an exec channel running `command` in the user's login shell. */
export function openChannel(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => (error ? reject(error) : resolve(channel)))
  })
}

/**
 * Collects what a channel says until it closes: its output (`collectStdout`: when the
 * caller does not read stdout itself) and how the command ended.
 */
export function outcome(channel: ClientChannel, collectStdout: boolean): Promise<CommandResult> {
  return new Promise((resolve) => {
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    let code: number | undefined
    let signal: string | undefined
    channel.on('exit', (exitCode: number | null, exitSignal?: string) => {
      code = exitCode ?? undefined
      signal = exitSignal
    })
    if (collectStdout) channel.on('data', (chunk: Buffer) => stdout.push(chunk))
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    channel.once('close', () =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString().trim(),
      }),
    )
  })
}

/**
 * Runs `command` to its end with no input, and returns how it ended (a non-zero exit is not
 * an error here).
 */
export async function run(client: Client, command: string): Promise<CommandResult> {
  const channel = await openChannel(client, command)
  const result = outcome(channel, true)
  channel.end()
  return result
}

/**
 * Runs `command` and fails unless it exits with 0.
 *
 * @return its standard output.
 * @throws RemoteError with the command's error output.
 */
export async function mustRun(client: Client, command: string): Promise<string> {
  const result = await run(client, command)
  if (result.code !== 0) throw commandError(result)
  return result.stdout
}

/**
 * What a failed command means, from its error output: `permission denied`, `no space left
 * on the device`, or what it said, with the whole result as cause.
 */
export function commandError(result: CommandResult): RemoteError {
  const said = result.stderr.split('\n').slice(-3).join('; ')
  const what =
    result.code === undefined && result.signal === undefined
      ? 'the connection closed before the remote command finished'
      : /No space left on device/i.test(said)
        ? 'no space left on the device'
        : /Permission denied/i.test(said)
          ? 'permission denied'
          : result.code === 127
            ? 'a command it needs is missing on the server'
            : result.signal !== undefined
              ? `the remote command was killed by ${result.signal}`
              : `the remote command failed with exit code ${result.code}`
  return new RemoteError(said === '' ? what : `${what} (${said})`, { cause: result })
}
