/**
 * A whole migration (pre-copy, checkpoint, layer, image, as `transship migrate` does it,
 * straight from engine to engine) with two steps of the user's own put between its phases
 * (`migrationPhases`): a check once everything is copied and before the target starts
 * (here: every volume of the source is mounted in the target, with the same read-only
 * flag), and a notification once the target runs (here: a JSON line appended to a file).
 * A failing check undoes the migration like any other failure: the source continues from
 * its checkpoint.
 *
 *   tsx examples/migrate-with-check.ts --container web --from unix:///run/docker.sock \
 *     --to ssh://root@host-b/var/run/docker.sock --notify /var/log/moves
 */
import { appendFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import {
  commitTarget,
  connectEngine,
  defineStage,
  type EngineClient,
  migrationPhases,
  rollbackOnFailure,
  startMigration,
  summarize,
  TransshipError,
} from '@transship/core'
import { lastValueFrom } from 'rxjs'

/** The user's check: the target, made but not started, mounts every volume as the source did. */
const checkTargetMounts = (engine: EngineClient) =>
  defineStage('check-target-mounts', async (state) => {
    if (!state.target) throw new TransshipError('CHECK_FAILED', 'no target was made')
    const target = await engine.inspectContainer(state.target.id)
    for (const volume of state.volumes) {
      const mount = target.Mounts.find((m) => m.Destination === volume.destination)
      if (mount?.Type !== 'volume' || mount.RW === volume.readOnly) {
        throw new TransshipError(
          'CHECK_FAILED',
          `target does not mount ${volume.destination} as the source did`,
        )
      }
    }
    return state
  })

/** The user's notification: one JSON line per finished migration. */
const notify = (file: string) =>
  defineStage('notify', async (state) => {
    const line = {
      container: state.source?.name,
      target: state.target,
      at: new Date().toISOString(),
    }
    await appendFile(file, `${JSON.stringify(line)}\n`)
    return state
  })

const { values } = parseArgs({
  options: {
    container: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    notify: { type: 'string' },
  },
})
if (!values.container || !values.to || !values.notify) {
  throw new Error(
    'usage: migrate-with-check.ts --container NAME [--from URL] --to URL --notify FILE',
  )
}

const source = await connectEngine(values.from)
const destination = await connectEngine(values.to)
const phases = migrationPhases({ source, destination }, { container: values.container })
try {
  const summary = await lastValueFrom(
    startMigration().pipe(phases.preflight, phases.prepare, phases.freeze, phases.transfer).pipe(
      checkTargetMounts(destination), // before the target starts
      phases.start,
      phases.settle,
      commitTarget(),
      notify(values.notify), // once it runs
      phases.finish,
      rollbackOnFailure(),
      summarize(),
    ),
  )
  console.log(JSON.stringify(summary))
} finally {
  await Promise.all([source.close(), destination.close()])
}
