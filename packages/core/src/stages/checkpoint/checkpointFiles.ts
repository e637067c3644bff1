import type Dockerode from 'dockerode'
import type { EngineInfo } from '../../engine/client.js'

/** Where a helper container mounts a container's checkpoints directory. */
export const CHECKPOINTS_MOUNT = '/checkpoints'

/** The checkpoint's key under the backup's prefix. */
export const CHECKPOINT_ARTIFACT = 'checkpoint.tar'

/** What the CLI flag for a cold migration is called, for messages. */
export const NO_CHECKPOINT_FLAG = '--no-checkpoint'

/**
 * The checkpoint's name for a backup: Docker's name rules (a letter or digit first, then
 * letters, digits, `_`, `.`, `-`), unique per backup, recognisably transship's.
 *
 * @param backupId - the backup's id.
 * @return the name.
 */
export function checkpointNameFor(backupId: string): string {
  return `transship-${backupId.replace(/[^A-Za-z0-9_.-]/g, '_')}`
}

/**
 * The host directory where an engine keeps a container's checkpoints, in the engine's own
 * view of its host: `<DockerRootDir>/containers/<id>/checkpoints`. Docker creates it with
 * the container.
 *
 * @param info - the engine's `GET /info`.
 * @param containerId - the container's full id.
 * @return the path.
 */
export function checkpointsDirOf(info: EngineInfo, containerId: string): string {
  return `${info.DockerRootDir}/containers/${containerId}/checkpoints`
}

/**
 * The mount that shows a container's checkpoints directory to a created helper container,
 * whose archive API then reads or writes it.
 *
 * @param directory - from {@link checkpointsDirOf}.
 * @param readOnly - whether the helper only reads.
 * @return the mount.
 */
export function checkpointsMount(directory: string, readOnly: boolean): Dockerode.MountSettings {
  return { Type: 'bind', Source: directory, Target: CHECKPOINTS_MOUNT, ReadOnly: readOnly }
}
