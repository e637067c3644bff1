import type Docker from 'dockerode'
import { TEST_LABEL } from './docker.js'

/**
 * Runs until stopped, and exits at once on SIGTERM (a shell as PID 1 ignores it otherwise,
 * and `docker stop` would wait 10 s).
 */
export const IDLE_COMMAND = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done']

/** A long-running test container: its mounts and restart policy. */
export interface IdleContainerOptions {
  readonly name: string
  readonly image: string
  /** Labels besides TEST_LABEL. */
  readonly labels?: Record<string, string>
  readonly binds?: readonly string[]
  readonly mounts?: readonly Docker.MountSettings[]
  readonly restartPolicy?: Docker.HostRestartPolicy
  /** Ignore SIGTERM, so that `docker stop` takes its full 10 s grace period. */
  readonly slowToStop?: boolean
}

/** Creates, without starting it, a container that runs {@link IDLE_COMMAND}. */
export async function createIdleContainer(
  docker: Docker,
  options: IdleContainerOptions,
): Promise<Docker.Container> {
  return docker.createContainer({
    name: options.name,
    Image: options.image,
    Cmd: options.slowToStop ? ['sh', '-c', 'while :; do sleep 1; done'] : [...IDLE_COMMAND],
    Labels: { ...TEST_LABEL, ...options.labels },
    HostConfig: {
      ...(options.binds ? { Binds: [...options.binds] } : {}),
      ...(options.mounts ? { Mounts: [...options.mounts] } : {}),
      ...(options.restartPolicy ? { RestartPolicy: options.restartPolicy } : {}),
    },
  })
}

/** The mount of a container at `destination`; fails when there is none. */
export function mountAt(
  inspect: Docker.ContainerInspectInfo,
  destination: string,
): Docker.ContainerInspectInfo['Mounts'][number] {
  const mount = inspect.Mounts.find((m) => m.Destination === destination)
  if (!mount) {
    throw new Error(
      `${inspect.Name} has no mount at ${destination} (${inspect.Mounts.map((m) => m.Destination).join(', ')})`,
    )
  }
  return mount
}

/**
 * A mount that makes an anonymous volume, with labels (so that cleanup by label finds it).
 * @types/dockerode requires `Source` and the other VolumeOptions fields; the engine does not.
 */
export function anonymousVolume(target: string, labels: Record<string, string>) {
  return {
    Type: 'volume',
    Target: target,
    VolumeOptions: { Labels: labels },
  } as unknown as Docker.MountSettings
}
