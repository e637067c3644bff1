import { deleteBackup } from '../backups/listBackups.js'
import { defineStage, plainMessage } from '../pipeline/stage.js'
import type { Transport } from '../transport/contract.js'
import { requireSource } from './require.js'

/** Options of {@link removeBackup}. */
export interface RemoveBackupOptions {
  /** Where the backup is. */
  readonly transport: Transport
}

/**
 * Stage `remove-backup`: deletes the staged backup once the target runs (a migration
 * without `--keep-backup`). The manifest goes first, so that an interrupted removal never
 * leaves something that looks like a whole backup. A failure here is a warning: the
 * migration has succeeded.
 *
 * ## Example
 * ```ts
 * migration$.pipe(startTarget({ engine }), removeBackup({ transport }))
 * ```
 *
 * @param options - the transport.
 * @return the stage operator.
 */
export function removeBackup(options: RemoveBackupOptions) {
  return defineStage('remove-backup', async (state, { signal, warn }) => {
    const { backupId } = requireSource(state, 'remove-backup')
    const { transport } = options
    try {
      await deleteBackup(transport, backupId, { signal })
      return { ...state, backupRemoved: true }
    } catch (error) {
      // The migration has succeeded by now: a leftover backup is not a reason to undo it.
      warn(
        `could not remove the staged backup at ${transport.url}/${backupId}: ${plainMessage(error)}`,
      )
      return state
    }
  })
}
