import { lastValueFrom, map, type Observable, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { TransshipError } from '../../src/errors.js'
import { Ledger } from '../../src/ledger/ledger.js'
import { undo } from '../../src/ledger/undoSteps.js'
import type { MigrationEvent } from '../../src/pipeline/events.js'
import { rollbackOnFailure } from '../../src/pipeline/rollbackOnFailure.js'
import { defineStage, StageFailure } from '../../src/pipeline/stage.js'
import { startMigration } from '../../src/pipeline/startMigration.js'
import { fakeEngine } from '../support/fakeEngine.js'

/** What the fake engines did, inspections left out. */
const changes = (log: readonly string[]) => log.filter((line) => !line.startsWith('inspect'))
const WEB = { id: 'web', name: 'web', running: true, restartPolicy: { Name: 'always' } }

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
    const log: string[] = []
    const b = fakeEngine('fake://b', log)
    const failing = defineStage('make-things', async (_state, { undoable }) => {
      await undoable(undo.removeVolume(b, 'a'))
      await undoable(undo.removeVolume(b, 'b'))
      throw new TransshipError('BOOM', 'the disk is full')
    })
    const error = await failure(startMigration().pipe(failing))
    expect(error).toBeInstanceOf(StageFailure)
    expect(error.code).toBe('BOOM')
    expect(error.message).toBe('[transship] make-things failed: the disk is full')
    expect(log).toEqual(['remove volume b', 'remove volume a'])
  })

  it('aborts the work and undoes it when unsubscribed', async () => {
    let aborted: unknown
    const log: string[] = []
    let started!: () => void
    const running = new Promise<void>((resolve) => {
      started = resolve
    })
    const slow = defineStage('slow', (_state, { signal, undoable }) => {
      undoable(undo.removeVolume(fakeEngine('fake://b', log), 'half-made')).then(started)
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
    expect(log).toEqual(['remove volume half-made'])
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
  it("takes back the earlier stages' changes, newest first, the source last, and says what it undid", async () => {
    const log: string[] = []
    const [a, b] = [fakeEngine('fake://a', log), fakeEngine('fake://b', log)]
    const stopsSource = defineStage('stop-source', async (state, { undoable }) => {
      await undoable(undo.restartSource(a, WEB))
      return state
    })
    const makesVolume = defineStage('restore-volumes', async (state, { undoable }) => {
      await undoable(undo.removeVolume(b, 'data'))
      return state
    })
    const fails = defineStage('create-target', async () => {
      throw new TransshipError('CONTAINER_NAME_TAKEN', 'name web is taken')
    })
    const error = await failure(
      startMigration().pipe(stopsSource, makesVolume, fails, rollbackOnFailure()),
    )
    expect(changes(log)).toEqual([
      'remove volume data',
      'restore the restart policy of web',
      'start container web',
    ])
    expect(error.code).toBe('CONTAINER_NAME_TAKEN')
    expect(error.message).toBe(
      '[transship] create-target failed: name web is taken Undone: remove volume data from fake://b; start web again on fake://a.',
    )
  })

  it('goes on past an undo step that fails, and names it', async () => {
    const log: string[] = []
    const a = fakeEngine('fake://a', log, { failing: /restart policy/ })
    const first = defineStage('first', async (state, { undoable }) => {
      await undoable(undo.restartSource(a, WEB))
      await undoable(undo.removeVolume(a, 'data'))
      return state
    })
    const fails = defineStage('second', async () => {
      throw new Error('broken')
    })
    const error = await failure(startMigration().pipe(first, fails, rollbackOnFailure()))
    expect(error.message).toContain('Undone: remove volume data from fake://a.')
    expect(error.message).toContain('Could NOT undo: start web again on fake://a: engine gone.')
  })

  it('rolls back for an error from any operator, not only a stage', async () => {
    const log: string[] = []
    const makesVolume = defineStage('restore-volumes', async (state, { undoable }) => {
      await undoable(undo.removeVolume(fakeEngine('fake://b', log), 'data'))
      return state
    })
    const ownOperator = map((event: MigrationEvent) => {
      if (event.type === 'state') throw new Error('my check failed')
      return event
    })
    const ledger = Ledger.inMemory()
    const error = await failure(
      startMigration({ ledger }).pipe(makesVolume, ownOperator, rollbackOnFailure({ ledger })),
    )
    expect(log).toEqual(['remove volume data'])
    expect(error.message).toBe(
      '[transship] my check failed Undone: remove volume data from fake://b.',
    )
  })

  it('leaves the source stopped while a target it could not remove may run: never two copies', async () => {
    const log: string[] = []
    const a = fakeEngine('fake://a', log)
    const b = fakeEngine('fake://b', log, { failing: /container target/ })
    const migrates = defineStage('migrate', async (state, { undoable }) => {
      await undoable(undo.restartSource(a, WEB))
      await undoable(undo.removeContainer(b, { id: 'target' }))
      return state
    })
    const fails = defineStage('start-target', async () => {
      throw new Error('B went away')
    })
    const error = await failure(startMigration().pipe(migrates, fails, rollbackOnFailure()))
    expect(changes(log)).toEqual([])
    expect(error.message).toContain(
      'Could NOT undo: remove container target from fake://b: engine gone',
    )
    expect(error.message).toMatch(
      /start web again on fake:\/\/a: not done, since container target on fake:\/\/b may run .*two copies must never run/,
    )
  })

  it('gives up on an undo step that hangs, after its timeout, and goes on', async () => {
    const log: string[] = []
    const b = fakeEngine('fake://b', log, { hanging: /volume stuck/ })
    const makes = defineStage('make', async (state, { undoable }) => {
      await undoable(undo.removeVolume(b, 'data'))
      await undoable(undo.removeVolume(b, 'stuck'))
      return state
    })
    const fails = defineStage('fails', async () => {
      throw new Error('broken')
    })
    const error = await failure(
      startMigration().pipe(makes, fails, rollbackOnFailure({ undoTimeoutMs: 50 })),
    )
    expect(log).toEqual(['remove volume data'])
    expect(error.message).toContain(
      'Could NOT undo: remove volume stuck from fake://b: remove volume stuck from fake://b did not finish within 0.05 s',
    )
  })

  it('takes nothing back once the target runs (the ledger is committed)', async () => {
    const log: string[] = []
    const starts = defineStage('start-target', async (state, { undoable }) => {
      await undoable(undo.removeContainer(fakeEngine('fake://b', log), { id: 'target' }))
      await state.ledger.commit()
      return state
    })
    const fails = defineStage('remove-backup', async () => {
      throw new Error('staging gone')
    })
    const error = await failure(startMigration().pipe(starts, fails, rollbackOnFailure()))
    expect(log).toEqual([])
    expect(error.message).toBe('[transship] remove-backup failed: staging gone')
  })
})
