/**
 * Copies a container's volumes to another engine, without moving the container: the
 * volumes-only pipeline, composed from @transship/core's stages. The container is stopped
 * while its volumes are read, then started again; the copies keep each volume's name
 * (a fresh one if taken), driver, labels and options.
 *
 *   tsx examples/volumes-only.ts --container web --from unix:///run/docker.sock \
 *     --to ssh://root@host-b/var/run/docker.sock --via file:///srv/staging [--volumes data,/cache]
 *
 * Prints the volume names at the destination, by source volume, as JSON.
 */
import { parseArgs } from 'node:util'
import {
  backupVolumes,
  connectEngine,
  inspectSource,
  removeBackup,
  restartSource,
  restoreVolumes,
  rollbackOnFailure,
  startMigration,
  stopSource,
  writeManifest,
} from '@transship/core'
import { localTransportFromUrl } from '@transship/transport-local'
import { lastValueFrom } from 'rxjs'

const { values } = parseArgs({
  options: {
    container: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    via: { type: 'string' },
    volumes: { type: 'string' },
  },
})
if (!values.container || !values.to || !values.via) {
  throw new Error('usage: volumes-only.ts --container NAME [--from URL] --to URL --via file:///dir')
}

const source = await connectEngine(values.from)
const destination = await connectEngine(values.to)
const transport = localTransportFromUrl(values.via)
try {
  const last = await lastValueFrom(
    startMigration().pipe(
      inspectSource({
        engine: source,
        container: values.container,
        ...(values.volumes ? { volumes: values.volumes.split(',') } : {}),
      }),
      stopSource({ engine: source }),
      backupVolumes({ engine: source, transport }),
      writeManifest({ transport }),
      restoreVolumes({ engine: destination, transport, onConflict: 'rename' }),
      restartSource({ engine: source }),
      removeBackup({ transport }),
      // A failure anywhere starts the container again and removes the half-made copies.
      rollbackOnFailure(),
    ),
  )
  if (last.type === 'state') console.log(JSON.stringify(last.state.restoredVolumes))
} finally {
  await Promise.all([source.close(), destination.close()])
}
