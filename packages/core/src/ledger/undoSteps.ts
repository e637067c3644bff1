import { z } from 'zod'
import type { EngineClient } from '../engine/client.js'
import { shortId } from '../engine/client.js'
import type { Transport } from '../transport/contract.js'

/**
 * Undo steps as data: what to take back, on which engine or transport (by URL), so that a
 * process other than the one that made the change can replay it (`transship recover`).
 * Never a secret: URLs are stored without passwords.
 */
export const undoStepSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('remove-container'),
    engine: z.string(),
    /** By name until the engine has made it (write-ahead), by id from then on. */
    name: z.string().optional(),
    id: z.string().optional(),
  }),
  z.object({ kind: z.literal('remove-network'), engine: z.string(), name: z.string() }),
  z.object({
    kind: z.literal('remove-volume'),
    engine: z.string(),
    name: z.string(),
    /** A local volume bound to a directory of its host: removing it leaves the content there. */
    boundDirectory: z.string().optional(),
  }),
  z.object({ kind: z.literal('remove-image'), engine: z.string(), image: z.string() }),
  z.object({ kind: z.literal('remove-artifact'), transport: z.string(), key: z.string() }),
  z.object({
    /**
     * The source put back: its restart policy, and, when it ran, started again (from its
     * checkpoint when one was taken). Fenced: it runs only once no target can run.
     */
    kind: z.literal('restart-source'),
    engine: z.string(),
    id: z.string(),
    name: z.string(),
    restartPolicy: z.object({ Name: z.string(), MaximumRetryCount: z.number().optional() }),
    running: z.boolean(),
    checkpoint: z.string().optional(),
  }),
  /** The migration's lock on its source: released when the run ends, whichever way. */
  z.object({ kind: z.literal('release-locks'), engine: z.string(), migration: z.string() }),
])

/** One undo step, as the ledger stores it. */
export type UndoStep = z.infer<typeof undoStepSchema>

/**
 * An undo step as a stage records it: the step, a key that names the object it takes back
 * (a later stage that replaces the object records a step under the same key), and the
 * engine or transport it needs, live, for a rollback in this process.
 */
export interface UndoRecord {
  readonly key: string
  readonly step: UndoStep
  readonly engine?: EngineClient
  readonly transport?: Transport
}

/** What the keys of target containers' steps begin with. */
export const TARGET_KEY = 'target container'

/**
 * The key of a target container's step: a stage that makes the target again replaces it.
 * One per target, so that a group's run holds each of its members'.
 *
 * @param name - the target's name at the destination.
 * @return the key.
 */
export function targetKey(name: string): string {
  return `${TARGET_KEY} ${name}`
}

/** A URL as the ledger keeps it: without a password. */
export function withoutSecret(url: string): string {
  try {
    const parsed = new URL(url)
    if (!parsed.password) return url
    parsed.password = ''
    return parsed.toString()
  } catch {
    return url
  }
}

/**
 * Builders of undo records, one per kind of change a migration makes.
 *
 * ## Example
 * ```ts
 * await context.undoable(undo.removeVolume(destination, 'data'))
 * await destination.call('create volume data', (docker) => docker.createVolume({ Name: 'data' }))
 * ```
 */
export const undo = {
  /**
   * A container made at `engine`: by name before it exists, by id once made.
   *
   * @param key - the object's key, e.g. `target` (the same for its replacement).
   */
  removeContainer(
    engine: EngineClient,
    ref: { readonly name?: string; readonly id?: string },
    key = `container ${ref.name ?? ref.id} on ${withoutSecret(engine.url)}`,
  ): UndoRecord {
    return {
      key,
      step: {
        kind: 'remove-container',
        engine: withoutSecret(engine.url),
        ...(ref.name === undefined ? {} : { name: ref.name }),
        ...(ref.id === undefined ? {} : { id: ref.id }),
      },
      engine,
    }
  },
  removeNetwork(engine: EngineClient, name: string): UndoRecord {
    return {
      key: `network ${name} on ${withoutSecret(engine.url)}`,
      step: { kind: 'remove-network', engine: withoutSecret(engine.url), name },
      engine,
    }
  },
  /** @param boundDirectory - the host directory it is bound to (`-o o=bind,device=DIR`). */
  removeVolume(engine: EngineClient, name: string, boundDirectory?: string): UndoRecord {
    return {
      key: `volume ${name} on ${withoutSecret(engine.url)}`,
      step: {
        kind: 'remove-volume',
        engine: withoutSecret(engine.url),
        name,
        ...(boundDirectory === undefined ? {} : { boundDirectory }),
      },
      engine,
    }
  },
  removeImage(engine: EngineClient, image: string): UndoRecord {
    return {
      key: `image ${image} on ${withoutSecret(engine.url)}`,
      step: { kind: 'remove-image', engine: withoutSecret(engine.url), image },
      engine,
    }
  },
  removeArtifact(transport: Transport, key: string): UndoRecord {
    return {
      key: `${key} in ${withoutSecret(transport.url)}`,
      step: { kind: 'remove-artifact', transport: withoutSecret(transport.url), key },
      transport,
    }
  },
  releaseLocks(engine: EngineClient, migration: string): UndoRecord {
    return {
      key: `locks of ${migration} on ${withoutSecret(engine.url)}`,
      step: { kind: 'release-locks', engine: withoutSecret(engine.url), migration },
      engine,
    }
  },
  restartSource(
    engine: EngineClient,
    source: {
      readonly id: string
      readonly name: string
      readonly running: boolean
      readonly restartPolicy: { Name: string; MaximumRetryCount?: number }
    },
    checkpoint?: string,
  ): UndoRecord {
    return {
      key: `source ${source.id} on ${withoutSecret(engine.url)}`,
      step: {
        kind: 'restart-source',
        engine: withoutSecret(engine.url),
        id: source.id,
        name: source.name,
        restartPolicy: source.restartPolicy,
        running: source.running,
        ...(checkpoint === undefined ? {} : { checkpoint }),
      },
      engine,
    }
  },
}

/**
 * What a step does, for reports, e.g. `remove volume data from unix:///run/docker.sock`.
 *
 * @param step - the step.
 * @return one line.
 */
export function describeStep(step: UndoStep): string {
  switch (step.kind) {
    case 'remove-container':
      return `remove container ${step.id ? shortId(step.id) : step.name} from ${step.engine}`
    case 'remove-network':
      return `remove network ${step.name} from ${step.engine}`
    case 'remove-volume':
      return step.boundDirectory === undefined
        ? `remove volume ${shortId(step.name)} from ${step.engine}`
        : `remove volume ${shortId(step.name)} from ${step.engine} (the files copied into ${step.boundDirectory}, the host directory it is bound to, stay there: the engine never deletes a bound directory)`
    case 'remove-image':
      return `remove image ${shortId(step.image.replace(/^sha256:/, ''))} from ${step.engine}`
    case 'remove-artifact':
      return `remove ${step.key} from ${step.transport}`
    case 'release-locks':
      return `release the lock of migration ${step.migration} on ${step.engine}`
    case 'restart-source':
      if (!step.running) return `restore the restart policy of ${step.name} on ${step.engine}`
      return step.checkpoint
        ? `start ${step.name} again on ${step.engine}, from its checkpoint ${step.checkpoint} if it was taken`
        : `start ${step.name} again on ${step.engine}`
  }
}
