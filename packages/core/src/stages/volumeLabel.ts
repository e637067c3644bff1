import type { VolumeRecord } from '../manifest/schema.js'

/** How a volume is named to the user: its name, or its mount path when it is anonymous. */
export function volumeLabel(volume: VolumeRecord): string {
  return volume.anonymous ? `anonymous volume at ${volume.destination}` : `volume ${volume.name}`
}
