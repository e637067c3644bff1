import type Docker from 'dockerode'
import { TEST_LABEL } from './docker.js'

/** A one-shot container: what it runs and what it mounts. */
export interface RunOnceOptions {
  readonly image: string
  readonly cmd: readonly string[]
  readonly hostConfig?: Docker.HostConfig
  /** Labels besides TEST_LABEL. */
  readonly labels?: Record<string, string>
}

/**
 * Runs a container to its end and removes it; fails with its stderr when it exits
 * non-zero.
 *
 * @return its stdout.
 */
export async function runOnce(docker: Docker, options: RunOnceOptions): Promise<string> {
  const container = await docker.createContainer({
    Image: options.image,
    Cmd: [...options.cmd],
    Labels: { ...TEST_LABEL, ...options.labels },
    NetworkDisabled: true,
    ...(options.hostConfig ? { HostConfig: options.hostConfig } : {}),
  })
  try {
    await container.start()
    const { StatusCode } = (await container.wait()) as { StatusCode: number }
    const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as Buffer
    const { stdout, stderr } = demultiplex(logs)
    if (StatusCode !== 0) {
      throw new Error(`${options.cmd.join(' ')} exited with ${StatusCode}: ${stderr}`)
    }
    return stdout
  } finally {
    await container.remove({ force: true, v: false })
  }
}

/** Splits Docker's multiplexed log stream (8-byte frame headers) into stdout and stderr. */
function demultiplex(buffer: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = []
  const err: Buffer[] = []
  for (let offset = 0; offset + 8 <= buffer.length; ) {
    const size = buffer.readUInt32BE(offset + 4)
    const frame = buffer.subarray(offset + 8, offset + 8 + size)
    ;(buffer[offset] === 2 ? err : out).push(frame)
    offset += 8 + size
  }
  return {
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  }
}
