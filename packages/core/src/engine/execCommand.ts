import { PassThrough } from 'node:stream'
import { type EngineClient, shortId } from './client.js'

/** How a command run in a container ended. */
export interface CommandResult {
  readonly exitCode: number
  /** Its stdout and stderr, interleaved, the last {@link MAX_OUTPUT} bytes. */
  readonly output: string
  readonly durationMs: number
}

/** Kept of a command's output: enough for an error message, never the whole of a chatty one. */
const MAX_OUTPUT = 64 * 1024

/**
 * Runs a shell command in a running container (`docker exec CONTAINER sh -c COMMAND`) and
 * waits for its end.
 *
 * @param engine - the engine.
 * @param id - the container.
 * @param command - the command line, for `sh -c`.
 * @param signal - aborts the wait (the command itself is not killed: Docker has no API for that).
 * @return its exit code, its output's tail, how long it ran.
 */
export async function execCommand(
  engine: EngineClient,
  id: string,
  command: string,
  signal?: AbortSignal,
): Promise<CommandResult> {
  const started = performance.now()
  const action = `run \`${command}\` in ${shortId(id)}`
  const exec = await engine.call(action, (docker) =>
    docker
      .getContainer(id)
      .exec({ Cmd: ['sh', '-c', command], AttachStdout: true, AttachStderr: true }),
  )
  const stream = await engine.call(action, () =>
    exec.start({ hijack: true, stdin: false, ...(signal ? { abortSignal: signal } : {}) }),
  )
  const output = new PassThrough()
  let kept = Buffer.alloc(0)
  output.on('data', (chunk: Buffer) => {
    kept = Buffer.concat([kept, chunk])
    if (kept.length > MAX_OUTPUT) kept = kept.subarray(kept.length - MAX_OUTPUT)
  })
  await engine.call(
    action,
    (docker) =>
      new Promise<void>((resolve, reject) => {
        docker.modem.demuxStream(stream, output, output)
        stream.on('end', resolve)
        stream.on('error', reject)
      }),
  )
  const { ExitCode } = await engine.call(action, () => exec.inspect())
  return {
    exitCode: ExitCode ?? -1,
    output: kept.toString('utf8'),
    durationMs: Math.round(performance.now() - started),
  }
}
