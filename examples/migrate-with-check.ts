/**
 * A migration with two steps of the user's own, composed from @transship/core's stages:
 * a check that runs after the target is created and before it starts (here: every volume
 * of the source is mounted in the target, with the same read-only flag), and a
 * notification once the target runs (here: a JSON line appended to a file). A failing
 * check undoes the migration like any other failure: the source starts again.
 *
 *   tsx examples/migrate-with-check.ts --container web --from unix:///run/docker.sock \
 *     --to ssh://root@host-b/var/run/docker.sock --via file:///srv/staging --notify /var/log/moves
 */
import { appendFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import {
  backupVolumes,
  checkDestination,
  connectEngine,
  createTarget,
  defineStage,
  type EngineClient,
  inspectSource,
  removeBackup,
  restoreVolumes,
  rollbackOnFailure,
  startMigration,
  startTarget,
  stopSource,
  summarize,
  TransshipError,
  writeManifest,
} from '@transship/core'
import { localTransportFromUrl } from '@transship/transport-local'
import { lastValueFrom } from 'rxjs'

/** The user's check: the created target mounts every volume as the source did. */
const checkTargetMounts = (engine: EngineClient) =>
  defineStage('check-target-mounts', async (state) => {
    const target = await engine.inspectContainer(state.target?.id ?? '')
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
    via: { type: 'string' },
    notify: { type: 'string' },
  },
})
if (!values.container || !values.to || !values.via || !values.notify) {
  throw new Error(
    'usage: migrate-with-check.ts --container NAME [--from URL] --to URL --via file:///dir --notify FILE',
  )
}

const source = await connectEngine(values.from)
const destination = await connectEngine(values.to)
const transport = localTransportFromUrl(values.via)
try {
  const summary = await lastValueFrom(
    startMigration()
      .pipe(
        inspectSource({ engine: source, container: values.container }),
        checkDestination({ engine: destination, hostAccess: 'warn' }),
        stopSource({ engine: source }),
        backupVolumes({ engine: source, transport }),
        writeManifest({ transport }),
        restoreVolumes({ engine: destination, transport }),
        createTarget({ engine: destination }),
        checkTargetMounts(destination),
        startTarget({ engine: destination }),
      )
      .pipe(notify(values.notify), removeBackup({ transport }), rollbackOnFailure(), summarize()),
  )
  console.log(JSON.stringify(summary))
} finally {
  await Promise.all([source.close(), destination.close()])
}
