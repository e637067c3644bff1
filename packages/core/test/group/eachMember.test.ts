import { setTimeout as sleep } from 'node:timers/promises'
import { lastValueFrom, type Observable, of, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { eachMember } from '../../src/group/eachMember.js'
import { groupDowntime } from '../../src/group/groupDowntime.js'
import { markSharedVolumes, mountSharedVolumes } from '../../src/group/shared.js'
import { Ledger } from '../../src/ledger/ledger.js'
import { undo } from '../../src/ledger/undoSteps.js'
import type { VolumeRecord } from '../../src/manifest/schema.js'
import type { MigrationEvent } from '../../src/pipeline/events.js'
import { rollbackOnFailure } from '../../src/pipeline/rollbackOnFailure.js'
import { defineStage } from '../../src/pipeline/stage.js'
import { initialState, type MemberState, type MigrationState } from '../../src/pipeline/state.js'
import { fakeEngine } from '../support/fakeEngine.js'

const events = (source: Observable<MigrationEvent>) => lastValueFrom(source.pipe(toArray()))

function volume(name: string, artifact?: string): VolumeRecord {
  return {
    name,
    anonymous: false,
    driver: 'local',
    labels: {},
    driverOptions: {},
    destination: `/${name}`,
    readOnly: false,
    ...(artifact ? { artifact } : {}),
  }
}

/** A group of members named `names`, on one ledger, each with `volumes` of its own. */
function group(
  names: readonly string[],
  volumes: Record<string, VolumeRecord[]> = {},
): MigrationState {
  const ledger = Ledger.inMemory()
  return {
    ...initialState({ ledger }),
    members: names.map(
      (name): MemberState => ({
        container: name,
        id: `${name}-id`,
        state: { ...initialState({ ledger }), volumes: volumes[name] ?? [] },
      }),
    ),
  }
}

function lastGroup(emitted: MigrationEvent[]): MigrationState {
  const last = emitted.filter((event) => event.type === 'state').at(-1)
  if (last?.type !== 'state') throw new Error('no state')
  return last.state
}

/** A stage that logs which member it ran on, and marks its state. */
function visiting(log: string[]) {
  return defineStage('visit', async (state) => {
    log.push(state.warnings.length === 0 ? 'first visit' : 'again')
    return { ...state, warnings: [...state.warnings, { stage: 'visit', message: 'seen' }] }
  })
}

describe('eachMember', () => {
  it('runs the phase on each member in turn, dependencies first or dependants first, marking events with the container', async () => {
    const log: string[] = []
    const start = group(['db', 'app', 'web'])
    const emitted = await events(
      of<MigrationEvent>({ type: 'state', state: start }).pipe(
        eachMember((member) => {
          log.push(member.container)
          return visiting([])
        }),
        eachMember(
          (member) => {
            log.push(`freeze ${member.container}`)
            return visiting([])
          },
          { order: 'dependants-first' },
        ),
      ),
    )
    expect(log).toEqual(['db', 'app', 'web', 'freeze web', 'freeze app', 'freeze db'])
    expect(
      emitted
        .filter((event) => event.type === 'stage-started')
        .map((event) => (event.type === 'stage-started' ? event.container : '')),
    ).toEqual(['db', 'app', 'web', 'web', 'app', 'db'])
    const members = lastGroup(emitted).members ?? []
    expect(members.map((member) => member.state.warnings.length)).toEqual([2, 2, 2])
    expect(emitted.filter((event) => event.type === 'state')).toHaveLength(1)
  })

  it('with concurrently, runs the members at the same time', async () => {
    const log: string[] = []
    const waiting = (name: string) =>
      defineStage('wait', async (state) => {
        log.push(`${name} began`)
        await sleep(20)
        log.push(`${name} ended`)
        return state
      })
    await events(
      of<MigrationEvent>({ type: 'state', state: group(['a', 'b']) }).pipe(
        eachMember((member) => waiting(member.container), { concurrently: true }),
      ),
    )
    expect(log).toEqual(['a began', 'b began', 'a ended', 'b ended'])
  })

  it('shows each member the group as the members before it left it', async () => {
    const seen: number[] = []
    await events(
      of<MigrationEvent>({ type: 'state', state: group(['a', 'b', 'c']) }).pipe(
        eachMember((_, current) => {
          seen.push(
            (current.members ?? []).filter((member) => member.state.warnings.length > 0).length,
          )
          return visiting([])
        }),
      ),
    )
    expect(seen).toEqual([0, 1, 2])
  })

  it('a member that fails fails the group, and the one ledger puts back what every member did', async () => {
    const log: string[] = []
    const engine = fakeEngine('fake://b', log)
    const making = defineStage('make', async (state, { undoable }) => {
      await undoable(undo.removeContainer(engine, { id: `${state.startedAt}-${log.length}` }))
      log.push('made')
      return state
    })
    const failing = defineStage('make', async () => {
      throw new Error('no room')
    })
    const start = group(['a', 'b', 'c'])
    await expect(
      events(
        of<MigrationEvent>({ type: 'state', state: start }).pipe(
          eachMember((member) => (member.container === 'c' ? failing : making)),
          rollbackOnFailure({ ledger: start.ledger }),
        ),
      ),
    ).rejects.toThrow(/make failed: no room Undone: remove container .*; remove container /)
    expect(log.filter((line) => line.startsWith('remove container'))).toHaveLength(2)
  })

  it('refuses a state that is not a group', async () => {
    await expect(
      events(
        of<MigrationEvent>({ type: 'state', state: initialState() }).pipe(
          eachMember(() => visiting([])),
        ),
      ),
    ).rejects.toThrow(/eachMember needs a group/)
  })
})

describe('shared volumes', () => {
  it('the first member copies a volume several mount; the others mount where it went', async () => {
    const start = group(['db', 'app', 'worker'], {
      db: [volume('db-data', 'volumes/0.tar')],
      app: [volume('shared', 'volumes/0.tar'), volume('app-only', 'volumes/1.tar')],
      worker: [volume('shared', 'volumes/0.tar')],
    })
    const marked = lastGroup(
      await events(of<MigrationEvent>({ type: 'state', state: start }).pipe(markSharedVolumes())),
    )
    const [db, app, worker] = marked.members ?? []
    expect(db?.state.volumes).toEqual(start.members?.[0]?.state.volumes)
    expect(app?.state.volumes.map((v) => [v.name, v.artifact, v.copiedWith])).toEqual([
      ['shared', 'volumes/0.tar', undefined],
      ['app-only', 'volumes/1.tar', undefined],
    ])
    expect(worker?.state.volumes).toEqual([{ ...volume('shared'), copiedWith: 'app' }])

    // The copier made it under another name (a rename): the worker mounts that one.
    const made: MigrationState = {
      ...marked,
      members: (marked.members ?? []).map((member) =>
        member.container === 'app'
          ? { ...member, state: { ...member.state, restoredVolumes: { shared: 'shared-3f9a' } } }
          : member,
      ),
    }
    const mounted = await events(
      of<MigrationEvent>({ type: 'state', state: worker?.state as MigrationState }).pipe(
        mountSharedVolumes(made),
      ),
    )
    expect(lastGroup(mounted).restoredVolumes).toEqual({ shared: 'shared-3f9a' })
  })
})

describe('groupDowntime', () => {
  const member = (at: number, freezeMs: number, totalMs: number, restoreMs: number) => ({
    container: 'x',
    state: {
      ...initialState(),
      freeze: { by: 'checkpoint' as const, at, durationMs: freezeMs },
      downtime: {
        totalMs,
        frozenBy: 'checkpoint' as const,
        checkpointMs: freezeMs,
        transferMs: totalMs - freezeMs - restoreMs,
        restoreMs,
      },
    },
  })

  it('runs from the first freeze to the last start, its parts adding up', () => {
    // Frozen at 0-100 and 100-300; starts 900-1000 and 1000-1200.
    const downtime = groupDowntime([member(100, 200, 1100, 200), member(0, 100, 1000, 100)])
    expect(downtime).toEqual({
      totalMs: 1200,
      frozenBy: 'checkpoint',
      checkpointMs: 300,
      transferMs: 600,
      restoreMs: 300,
    })
  })

  it('is undefined when no member was frozen', () => {
    expect(groupDowntime([{ container: 'x', state: initialState() }])).toBeUndefined()
  })
})
