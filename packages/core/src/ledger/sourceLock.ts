import {
  type EngineClient,
  ignoringNotFound,
  notFoundAsUndefined,
  shortId,
} from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { type Holder, isGone, thisProcess } from './holder.js'

/** Label of a lock container: the id of the container it locks. */
export const LOCK_LABEL = 'transship.lock'
/** Label of a lock container: the ledger id of the migration holding it. */
export const LOCK_MIGRATION_LABEL = 'transship.lock.migration'
const COMMAND = 'transship.lock.command'
const HOST = 'transship.lock.host'
const PID = 'transship.lock.pid'
const PID_STARTED = 'transship.lock.pid-started'

/** Who holds a container's lock: the process, its migration and command, and since when. */
export interface LockHolder extends Holder {
  readonly migration: string
  readonly command: string
  readonly since: string
}

/** The lock container's name for a source container. */
export function lockName(sourceId: string): string {
  return `transship-lock-${sourceId}`
}

/**
 * Takes the lock on a source container: creates the never-started container
 * `transship-lock-<source id>`, labelled with this process and its migration. The engine
 * creates a name once only (HTTP 409 for the second), which makes taking it atomic.
 *
 * @param engine - the source engine.
 * @param source - the source: its id, name, and an image the engine holds (its own).
 * @param owner - the migration's ledger id, and what runs (e.g. `migrate web`).
 * @throws TransshipError `SOURCE_LOCKED` when another migration holds it, naming the holder;
 *   `MIGRATION_UNFINISHED` when its holder (on this host) is gone, naming `transship recover`.
 */
export async function takeSourceLock(
  engine: EngineClient,
  source: { readonly id: string; readonly name: string; readonly imageId: string },
  owner: { readonly migration: string; readonly command: string },
): Promise<void> {
  const me = thisProcess()
  try {
    await engine.call(`create lock ${lockName(shortId(source.id))}`, (docker) =>
      docker.createContainer({
        name: lockName(source.id),
        Image: source.imageId,
        // Never started: the entrypoint only has to satisfy create.
        Entrypoint: ['/transship-lock-never-runs'],
        Cmd: [],
        NetworkDisabled: true,
        Labels: {
          [LOCK_LABEL]: source.id,
          [LOCK_MIGRATION_LABEL]: owner.migration,
          [COMMAND]: owner.command,
          [HOST]: me.host,
          [PID]: String(me.pid),
          ...(me.pidStartedAt === undefined ? {} : { [PID_STARTED]: me.pidStartedAt }),
        },
        HostConfig: { NetworkMode: 'none' },
      }),
    )
  } catch (error) {
    if (!(error instanceof TransshipError && error.code === 'ENGINE_CONFLICT')) throw error
    const holder = await readLockHolder(engine, source.id)
    throw lockedError(engine, source, holder, error)
  }
}

function lockedError(
  engine: EngineClient,
  source: { readonly id: string; readonly name: string },
  holder: LockHolder | undefined,
  cause: unknown,
): TransshipError {
  const { name } = source
  if (!holder) {
    return new TransshipError(
      'SOURCE_LOCKED',
      `container ${name} on ${engine.url} is locked by ${lockName(source.id)}, which is gone now: try again`,
      { cause },
    )
  }
  const who = `${holder.command} (migration ${holder.migration}, process ${holder.pid} on ${holder.host}, since ${holder.since})`
  if (isGone(holder)) {
    return new TransshipError(
      'MIGRATION_UNFINISHED',
      `container ${name} on ${engine.url} has an unfinished migration: ${who}, whose process is gone. ` +
        `Nothing was changed; run \`transship recover ${holder.migration}\` to bring it to a safe end first`,
      { cause },
    )
  }
  return new TransshipError(
    'SOURCE_LOCKED',
    `container ${name} on ${engine.url} is being migrated by ${who}: nothing was changed. ` +
      `Wait for it to end; if its host is gone for good, \`transship recover --force ${holder.migration}\` takes the lock over`,
    { cause },
  )
}

/**
 * Who holds a source container's lock.
 *
 * @param engine - the source engine.
 * @param sourceId - the source container's id.
 * @return the holder, or `undefined` when the container is not locked.
 */
export async function readLockHolder(
  engine: EngineClient,
  sourceId: string,
): Promise<LockHolder | undefined> {
  const lock = await engine.inspectContainer(lockName(sourceId)).catch(notFoundAsUndefined)
  if (!lock) return undefined
  const labels = lock.Config.Labels ?? {}
  const started = labels[PID_STARTED]
  return {
    migration: labels[LOCK_MIGRATION_LABEL] ?? '?',
    command: labels[COMMAND] ?? '?',
    host: labels[HOST] ?? '?',
    pid: Number(labels[PID]),
    ...(started === undefined ? {} : { pidStartedAt: started }),
    since: lock.Created,
  }
}

/**
 * Releases the locks a migration holds on an engine (one per source container).
 *
 * @param engine - the source engine.
 * @param migration - the migration's ledger id.
 */
export async function releaseLocksOf(engine: EngineClient, migration: string): Promise<void> {
  await removeLabelledContainers(engine, `${LOCK_MIGRATION_LABEL}=${migration}`)
}

/**
 * Removes every container that carries a label: transship's own (locks, helpers).
 *
 * @param engine - the engine.
 * @param label - `name=value`.
 */
export async function removeLabelledContainers(engine: EngineClient, label: string): Promise<void> {
  const found = await engine.call(`list containers labelled ${label}`, (docker) =>
    docker.listContainers({ all: true, filters: { label: [label] } }),
  )
  for (const container of found) {
    await ignoringNotFound(engine.removeContainer(container.Id))
  }
}
