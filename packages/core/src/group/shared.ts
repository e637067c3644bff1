// What several members of a group share (a volume they mount, an image they run), moved once.

import { type MonoTypeOperatorFunction, map } from 'rxjs'
import type { MigrationEvent } from '../pipeline/events.js'
import type { MigrationState } from '../pipeline/state.js'
import { mapMembers } from './eachMember.js'

/**
 * Marks the volumes that several members of a group mount: the first member (in
 * dependency order) copies each; the others only mount it, their record naming that member
 * (`copiedWith`) and carrying no artifact. Put it after the members are inspected.
 *
 * @return the operator.
 */
export function markSharedVolumes() {
  return mapMembers((member, group) => {
    const earlier = (group.members ?? []).slice(0, (group.members ?? []).indexOf(member))
    return {
      ...member.state,
      volumes: member.state.volumes.map((volume) => {
        const copier = earlier.find((other) =>
          other.state.volumes.some((theirs) => theirs.name === volume.name),
        )
        if (!copier) return volume
        const { artifact: _artifact, deltas: _deltas, ...mounted } = volume
        return { ...mounted, copiedWith: copier.container }
      }),
    }
  })
}

/**
 * Gives a member the names at the destination of the volumes another member copies, as
 * that member made them: what its target mounts. Put it before the member's target is made.
 *
 * @param group - the group, its earlier members past the stage that made their volumes.
 * @return the operator, for the member's own pipeline.
 */
export function mountSharedVolumes(
  group: MigrationState,
): MonoTypeOperatorFunction<MigrationEvent> {
  return map((event) => {
    if (event.type !== 'state') return event
    const restored: Record<string, string> = { ...event.state.restoredVolumes }
    for (const volume of event.state.volumes) {
      if (volume.copiedWith === undefined) continue
      const copier = group.members?.find((other) => other.container === volume.copiedWith)
      const name = copier?.state.restoredVolumes[volume.name]
      if (name !== undefined) restored[volume.name] = name
    }
    return { type: 'state', state: { ...event.state, restoredVolumes: restored } }
  })
}

/**
 * Gives a member of a group's backup the image an earlier member stores, when both run the
 * same one: `backupImage` then stores it once, and `restoreImage` loads it once, with that
 * member. Put it before the member's `backupImage`.
 *
 * @param group - the group, its earlier members past `backupImage`.
 * @return the operator, for the member's own pipeline.
 */
export function shareImage(group: MigrationState): MonoTypeOperatorFunction<MigrationEvent> {
  return map((event) => {
    if (event.type !== 'state' || event.state.source === undefined) return event
    const { imageId } = event.state.source
    const copier = group.members?.find(
      (other) => other.state.image?.id === imageId && other.state.image.copiedWith === undefined,
    )
    if (!copier?.state.image) return event
    return {
      type: 'state',
      state: { ...event.state, image: { ...copier.state.image, copiedWith: copier.container } },
    }
  })
}
