import { randomBytes } from 'node:crypto'
import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import type { VolumeRecord } from '../manifest/schema.js'

/**
 * What to do when a volume's name is taken at the destination: `fail` (the default),
 * `rename` (a fresh name, `<name>-<random>`), or `replace` (remove the existing volume).
 */
export type OnConflict = 'fail' | 'rename' | 'replace'

/** How one volume will be made at the destination. */
export type VolumePlan =
  | { readonly action: 'create'; readonly volume: VolumeRecord; readonly name?: string }
  | { readonly action: 'replace'; readonly volume: VolumeRecord; readonly name: string }
  | { readonly action: 'reuse'; readonly volume: VolumeRecord; readonly name: string }

/**
 * Decides each volume's name at the destination. Anonymous volumes get a fresh one. A
 * named volume keeps its name, or takes the one `renames` gives it (`--volume-name`); if
 * taken: `onConflict` decides, except for a volume whose content is not copied, which uses
 * the existing one (its data is already there).
 *
 * @param engine - the destination engine.
 * @param volumes - the source's volumes.
 * @param onConflict - the user's choice for taken names.
 * @param renames - names at the destination, by source volume name (see `volumeNameChanges`).
 * @return a plan per volume, in the same order; none for a volume another member of a
 *   group copies (`copiedWith`).
 * @throws TransshipError `VOLUME_NAME_TAKEN` when a name is taken and `onConflict` is `fail`.
 */
export async function planVolumes(
  engine: EngineClient,
  volumes: readonly VolumeRecord[],
  onConflict: OnConflict,
  renames: Readonly<Record<string, string>> = {},
): Promise<VolumePlan[]> {
  const existing = new Set(
    ((await engine.call('list volumes', (docker) => docker.listVolumes())).Volumes ?? []).map(
      (v) => v.Name,
    ),
  )
  // A volume another member of the group copies is made with that member.
  const own = volumes.filter((volume) => volume.copiedWith === undefined)
  return own.map((volume): VolumePlan => {
    const name = renames[volume.name] ?? (volume.anonymous ? undefined : volume.name)
    if (name === undefined) return { action: 'create', volume }
    if (!existing.has(name)) return { action: 'create', volume, name }
    if (!volume.artifact) return { action: 'reuse', volume, name }
    if (onConflict === 'fail') {
      throw new TransshipError(
        'VOLUME_NAME_TAKEN',
        `volume ${name} already exists on ${engine.url}; choose --on-conflict rename or replace${name === volume.name ? ', or another name with --volume-name' : ''}`,
      )
    }
    return onConflict === 'rename'
      ? { action: 'create', volume, name: freshName(name, existing) }
      : { action: 'replace', volume, name }
  })
}

function freshName(name: string, taken: Set<string>): string {
  for (;;) {
    const candidate = `${name}-${randomBytes(3).toString('hex')}`
    if (!taken.has(candidate)) return candidate
  }
}

/**
 * Checks that a container name is free at the destination.
 *
 * @throws TransshipError `CONTAINER_NAME_TAKEN`, pointing to `--name`.
 */
export async function assertContainerNameFree(engine: EngineClient, name: string): Promise<void> {
  const taken = await engine
    .call(`inspect container ${name}`, (docker) => docker.getContainer(name).inspect())
    .then(
      () => true,
      (error: unknown) => {
        if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') return false
        throw error
      },
    )
  if (taken) {
    throw new TransshipError(
      'CONTAINER_NAME_TAKEN',
      `a container named ${name} already exists on ${engine.url}; choose another with --name`,
    )
  }
}
