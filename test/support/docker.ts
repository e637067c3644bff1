import { PassThrough } from 'node:stream'
import Docker from 'dockerode'

/** Label on everything a test creates, so a crashed run can be cleaned up by label. */
export const TEST_LABEL = { 'transship.test': 'true' }

/** A dockerode client for a `unix://` engine URL of the test environment. */
export function dockerAt(url: string): Docker {
  if (!url.startsWith('unix://')) throw new Error(`expected a unix:// engine URL, got ${url}`)
  return new Docker({ socketPath: url.slice('unix://'.length) })
}

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** Runs a command in a running container and collects its output. */
export async function execIn(container: Docker.Container, cmd: string[]): Promise<ExecResult> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
  const stream = await exec.start({ hijack: true, stdin: false })
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const out: Buffer[] = []
  const err: Buffer[] = []
  stdout.on('data', (chunk: Buffer) => out.push(chunk))
  stderr.on('data', (chunk: Buffer) => err.push(chunk))
  container.modem.demuxStream(stream, stdout, stderr)
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve)
    stream.on('error', reject)
  })
  const { ExitCode } = await exec.inspect()
  return {
    exitCode: ExitCode ?? -1,
    stdout: Buffer.concat(out).toString(),
    stderr: Buffer.concat(err).toString(),
  }
}

/** Removes every container carrying TEST_LABEL on an engine. */
export async function removeTestContainers(docker: Docker): Promise<void> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: Object.entries(TEST_LABEL).map(([k, v]) => `${k}=${v}`) },
  })
  await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        // Gone already, or being removed by the engine (an --rm container, a parallel cleanup).
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 404 && error.statusCode !== 409) throw error
        }),
    ),
  )
}

/**
 * Removes the test containers on each engine, then the named volumes they used (a volume
 * already gone is fine).
 */
export async function removeTestContainersAndVolumes(
  engines: readonly Docker[],
  volumes: readonly string[],
): Promise<void> {
  await Promise.all(engines.map(removeTestContainers))
  await Promise.all(
    engines.flatMap((docker) =>
      volumes.map((volume) =>
        docker
          .getVolume(volume)
          .remove()
          .catch(() => {}),
      ),
    ),
  )
}
