import type { EngineClient } from '../engine/client.js'
import type { SourceContainer } from '../manifest/schema.js'

/** What putting the source back needs to know of it, as inspected before anything changed. */
export type SourceToRestore = Pick<SourceContainer, 'id' | 'name' | 'running' | 'restartPolicy'>

/**
 * Puts the source container back as it was: its restart policy, and running if it ran.
 *
 * @param engine - the source engine.
 * @param source - the source as inspected before anything changed.
 */
export async function restoreSource(engine: EngineClient, source: SourceToRestore): Promise<void> {
  await engine.call(`restore the restart policy of ${source.name}`, (docker) =>
    docker.getContainer(source.id).update({ RestartPolicy: source.restartPolicy }),
  )
  if (!source.running) return
  const now = await engine.inspectContainer(source.id)
  if (!now.State.Running) await engine.startContainer(source.id)
}
