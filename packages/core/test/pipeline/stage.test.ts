import { lastValueFrom, type Observable, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { TransshipError } from '../../src/errors.js'
import type { MigrationEvent } from '../../src/pipeline/events.js'
import { rollbackOnFailure } from '../../src/pipeline/rollbackOnFailure.js'
import { defineStage, StageFailure } from '../../src/pipeline/stage.js'
import { startMigration } from '../../src/pipeline/startMigration.js'

const events = (source: Observable<MigrationEvent>) => lastValueFrom(source.pipe(toArray()))

/** The error a pipeline fails with; fails the test if it succeeds. */
async function failure(source: Observable<MigrationEvent>): Promise<TransshipError> {
  const result = await events(source).then(
    () => undefined,
    (error: unknown) => error,
  )
  if (!(result instanceof TransshipError))
    throw new Error(`expected a TransshipError, got ${result}`)
  return result
}

describe('defineStage', () => {
  it('runs on the state, and emits started, warnings, finished and the new state', async () => {
    const stage = defineStage('rename', async (state, { warn }) => {
      warn('something was not carried')
      return { ...state, id: 'backup-1' }
    })
    const emitted = await events(startMigration().pipe(stage))
    expect(emitted.map((e) => e.type)).toEqual([
      'stage-started',
      'warning',
      'stage-finished',
      'state',
    ])
    const last = emitted.at(-1)
    expect(last?.type === 'state' && last.state.id).toBe('backup-1')
    expect(last?.type === 'state' && last.state.warnings).toEqual([
      { stage: 'rename', message: 'something was not carried' },
    ])
  })

  it('lets events of earlier stages through in order', async () => {
    const first = defineStage('first', async (state, { warn }) => {
      warn('from first')
      return state
    })
    const second = defineStage('second', async (state) => state)
    const emitted = await events(startMigration().pipe(first, second))
    expect(emitted.map((e) => ('stage' in e ? `${e.type}:${e.stage}` : e.type))).toEqual([
      'stage-started:first',
      'warning:first',
      'stage-finished:first',
      'stage-started:second',
      'stage-finished:second',
      'state',
    ])
  })

  it('undoes its own changes, newest first, when it fails', async () => {
    const undone: string[] = []
    const failing = defineStage('make-things', async (_state, { undoable }) => {
      undoable('remove a', async () => void undone.push('a'))
      undoable('remove b', async () => void undone.push('b'))
      throw new TransshipError('BOOM', 'the disk is full')
    })
    const error = await failure(startMigration().pipe(failing))
    expect(error).toBeInstanceOf(StageFailure)
    expect(error.code).toBe('BOOM')
    expect(error.message).toBe('[transship] make-things failed: the disk is full')
    expect(undone).toEqual(['b', 'a'])
  })

  it('aborts the work and undoes it when unsubscribed', async () => {
    let aborted: unknown
    let undone = false
    let started!: () => void
    const running = new Promise<void>((resolve) => {
      started = resolve
    })
    const slow = defineStage('slow', (_state, { signal, undoable }) => {
      undoable('remove the half-made thing', async () => {
        undone = true
      })
      started()
      return new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => {
          aborted = signal.reason
          reject(signal.reason)
        }),
      )
    })
    const subscription = startMigration()
      .pipe(slow)
      .subscribe({ error: () => {} })
    await running
    subscription.unsubscribe()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect((aborted as TransshipError).code).toBe('INTERRUPTED')
    expect(undone).toBe(true)
  })

  it('is interrupted by the pipeline signal', async () => {
    const controller = new AbortController()
    const waits = defineStage('waits', (_state, { signal }) => {
      controller.abort()
      return new Promise((_resolve, reject) => {
        if (signal.aborted) reject(signal.reason)
        signal.addEventListener('abort', () => reject(signal.reason))
      })
    })
    const error = await failure(startMigration({ signal: controller.signal }).pipe(waits))
    expect(error.code).toBe('INTERRUPTED')
  })
})

describe('rollbackOnFailure', () => {
  it("undoes the earlier stages' journal, newest first, and says what it undid", async () => {
    const undone: string[] = []
    const stopsSource = defineStage('stop-source', async (state, { undoable }) => {
      undoable('start web again', async () => void undone.push('start web'))
      return state
    })
    const makesVolume = defineStage('restore-volumes', async (state, { undoable }) => {
      undoable('remove volume data', async () => void undone.push('remove data'))
      return state
    })
    const fails = defineStage('create-target', async () => {
      throw new TransshipError('CONTAINER_NAME_TAKEN', 'name web is taken')
    })
    const error = await failure(
      startMigration().pipe(stopsSource, makesVolume, fails, rollbackOnFailure()),
    )
    expect(undone).toEqual(['remove data', 'start web'])
    expect(error.code).toBe('CONTAINER_NAME_TAKEN')
    expect(error.message).toBe(
      '[transship] create-target failed: name web is taken Undone: remove volume data; start web again.',
    )
  })

  it('goes on past an undo step that fails, and names it', async () => {
    const first = defineStage('first', async (state, { undoable }) => {
      undoable('start web again', async () => {
        throw new Error('engine gone')
      })
      undoable('remove volume data', async () => {})
      return state
    })
    const fails = defineStage('second', async () => {
      throw new Error('broken')
    })
    const error = await failure(startMigration().pipe(first, fails, rollbackOnFailure()))
    expect(error.message).toContain('Undone: remove volume data.')
    expect(error.message).toContain('Could NOT undo: start web again: engine gone.')
  })
})
