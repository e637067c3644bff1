import type { MigrationState, startMigration } from '../../packages/core/src/index.js'

/** Runs a pipeline to its end: its final state, and how long each stage took (ms). */
export async function pipelineResult(
  pipeline: ReturnType<typeof startMigration>,
): Promise<{ state: MigrationState; stages: Map<string, number> }> {
  let state: MigrationState | undefined
  const stages = new Map<string, number>()
  await pipeline.forEach((event) => {
    if (event.type === 'state') state = event.state
    if (event.type === 'stage-finished') stages.set(event.stage, event.durationMs)
  })
  if (!state) throw new Error('the pipeline ended without a state')
  return { state, stages }
}
