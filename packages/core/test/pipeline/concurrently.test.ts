import { setTimeout as sleep } from 'node:timers/promises'
import { lastValueFrom, type Observable, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { TransshipError } from '../../src/errors.js'
import { undo } from '../../src/ledger/undoSteps.js'
import { concurrently } from '../../src/pipeline/concurrently.js'
import type { MigrationEvent } from '../../src/pipeline/events.js'
import { rollbackOnFailure } from '../../src/pipeline/rollbackOnFailure.js'
import { defineStage } from '../../src/pipeline/stage.js'
import { startMigration } from '../../src/pipeline/startMigration.js'
import type { MigrationState } from '../../src/pipeline/state.js'
import { fakeEngine } from '../support/fakeEngine.js'

const events = (source: Observable<MigrationEvent>) => lastValueFrom(source.pipe(toArray()))
const artifact = (key: string) => ({
  key,
  kind: 'volume' as const,
  size: 1,
  sha256: '0'.repeat(64),
  encoding: 'tar' as const,
})

/** A stage that waits, adds an artifact and makes a volume, and logs what it did. */
function adding(name: string, ms: number, log: string[]) {
  return defineStage(name, async (state, { undoable, signal }) => {
    log.push(`${name} began`)
    await undoable(undo.removeVolume(fakeEngine('fake://b', log), name))
    await sleep(ms, undefined, { signal })
    log.push(`${name} ended`)
    return { ...state, artifacts: [...state.artifacts, artifact(name)] }
  })
}

function lastState(emitted: MigrationEvent[]): MigrationState | undefined {
  const last = emitted.filter((event) => event.type === 'state').at(-1)
  return last?.type === 'state' ? last.state : undefined
}

describe('concurrently', () => {
  it('runs the stages at the same time and emits one state with all their changes, in stage order', async () => {
    const log: string[] = []
    const emitted = await events(
      startMigration().pipe(concurrently(adding('slow', 60, log), adding('fast', 10, log))),
    )
    expect(log.slice(0, 2)).toEqual(['slow began', 'fast began'])
    expect(log.slice(2)).toEqual(['fast ended', 'slow ended'])
    expect(emitted.filter((event) => event.type === 'state')).toHaveLength(1)
    const state = lastState(emitted)
    expect(state?.artifacts.map((a) => a.key)).toEqual(['slow', 'fast'])
    expect(state?.ledger.entries.map((entry) => entry.key)).toEqual([
      'volume slow on fake://b',
      'volume fast on fake://b',
    ])
    const finished = emitted.filter((event) => event.type === 'stage-finished')
    expect(finished.map((event) => event.type === 'stage-finished' && event.stage)).toEqual([
      'fast',
      'slow',
    ])
  })

  it('keeps each other field a stage changed, and refuses two stages changing the same one', async () => {
    const naming = (id: string) => defineStage(`name-${id}`, async (state) => ({ ...state, id }))
    const layer = defineStage('layer', async (state) => ({
      ...state,
      layer: {
        method: 'overlay2' as const,
        artifact: 'layer.tar',
        changes: { added: 1, changed: 0, deleted: 0 },
      },
    }))
    const ok = lastState(await events(startMigration().pipe(concurrently(naming('b1'), layer))))
    expect(ok?.id).toBe('b1')
    expect(ok?.layer?.artifact).toBe('layer.tar')
    const error = await events(
      startMigration().pipe(concurrently(naming('b1'), naming('b2'))),
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TransshipError)
    expect((error as TransshipError).message).toMatch(/both change the state's id/)
  })

  it('on a failure, stops the others and rolls back the work of those that finished', async () => {
    const log: string[] = []
    const failing = defineStage('failing', async () => {
      await sleep(30)
      throw new TransshipError('BROKEN', 'it broke')
    })
    const error = await events(
      startMigration().pipe(
        concurrently(adding('fast', 5, log), failing, adding('slow', 5000, log)),
        rollbackOnFailure(),
      ),
    ).catch((e: unknown) => e)
    expect((error as TransshipError).message).toMatch(/failing failed: it broke/)
    // The unfinished one took back its own work when it was stopped, before the rollback.
    expect((error as TransshipError).message).toMatch(
      /Undone: remove volume slow from fake:\/\/b; remove volume fast from fake:\/\/b\./,
    )
    expect(log.filter((line) => line.startsWith('remove'))).toEqual([
      'remove volume slow',
      'remove volume fast',
    ])
    expect(log).not.toContain('slow ended')
  })
})
