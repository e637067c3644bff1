import type Docker from 'dockerode'
import { runOnce } from './runOnce.js'

/** Docker's label filter for containers or volumes that carry all of `labels`. */
export function labelFilter(labels: Record<string, string>): { label: string[] } {
  return { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) }
}

/** Names of the containers on an engine that carry all of `labels`. */
export async function labelledContainers(
  docker: Docker,
  labels: Record<string, string>,
): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: labelFilter(labels) })
  return containers.map((container) => container.Names[0]?.replace(/^\//, '') ?? container.Id)
}

/** Names of the volumes on an engine that carry all of `labels`. */
export async function labelledVolumes(
  docker: Docker,
  labels: Record<string, string>,
): Promise<string[]> {
  const { Volumes } = await docker.listVolumes({ filters: labelFilter(labels) })
  return (Volumes ?? []).map((volume) => volume.Name)
}

/**
 * Removes the containers that carry all of `labels`, then the volumes they mounted and
 * the volumes that carry all of `labels`. A volume transship made at the destination for
 * an anonymous one is a named volume there: `docker rm -v` leaves it, so it goes by its
 * mount.
 */
export async function removeLabelled(
  docker: Docker,
  labels: Record<string, string>,
): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: labelFilter(labels) })
  const mounted = containers.flatMap((container) =>
    container.Mounts.filter((mount) => mount.Type === 'volume' && mount.Name).map(
      (mount) => mount.Name as string,
    ),
  )
  await Promise.all(
    containers.map((container) =>
      docker.getContainer(container.Id).remove({ force: true, v: true }),
    ),
  )
  const volumes = new Set([...mounted, ...(await labelledVolumes(docker, labels))])
  for (const volume of volumes) {
    await docker
      .getVolume(volume)
      .remove()
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error
      })
  }
}

/** Where tests put the device directories of `local` volumes with bind options. */
export const DEVICE_ROOT = '/var/lib/docker/transship-test'

/**
 * Creates an empty directory under {@link DEVICE_ROOT} on an engine's host, through a
 * one-shot container (each engine has its own /var/lib/docker).
 *
 * @return its path on the host.
 */
export async function makeDeviceDir(docker: Docker, image: string, name: string): Promise<string> {
  await runOnce(docker, {
    image,
    cmd: ['sh', '-c', `rm -rf "/t/${name}" && mkdir "/t/${name}"`],
    hostConfig: { Binds: [`${DEVICE_ROOT}:/t`] },
  })
  return `${DEVICE_ROOT}/${name}`
}

/** Removes a directory {@link makeDeviceDir} made. */
export async function removeDeviceDir(docker: Docker, image: string, name: string): Promise<void> {
  await runOnce(docker, {
    image,
    cmd: ['rm', '-rf', `/t/${name}`],
    hostConfig: { Binds: [`${DEVICE_ROOT}:/t`] },
  })
}
