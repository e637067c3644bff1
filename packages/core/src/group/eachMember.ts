import {
  concat,
  concatMap,
  defer,
  filter,
  type MonoTypeOperatorFunction,
  map,
  merge,
  type Observable,
  of,
} from 'rxjs'
import { TransshipError } from '../errors.js'
import type { MigrationEvent } from '../pipeline/events.js'
import type { MemberState, MigrationState } from '../pipeline/state.js'

/** Options of {@link eachMember}. */
export interface EachMemberOptions {
  /**
   * `dependencies-first` (default: the order members are created and started in) or
   * `dependants-first` (the order they are frozen in: an app before the database it uses).
   */
  readonly order?: 'dependencies-first' | 'dependants-first'
  /**
   * Run the members' phases at the same time (default false: one after the other), for a
   * phase whose members do not depend on each other, e.g. what moves once all are frozen.
   * If one fails, the others are stopped, each taking back its own unfinished work.
   */
  readonly concurrently?: boolean
}

/**
 * Runs a phase of a group's migration on each member in turn: the operators `phaseOf`
 * returns for a member run on that member's own state, and the group's state then holds
 * what they made of it. The member's events pass on, each marked with its `container`;
 * `phaseOf` sees the group as the members before it left it (a member mounting a volume
 * another copied reads where it went). A member's failure fails the group's run, whose
 * one ledger holds every member's undo steps.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   findGroup({ engine: a, project: 'shop' }),
 *   eachMember((member) => inspectSource({ engine: a, container: member.id })),
 *   eachMember(() => stopSource({ engine: a }), { order: 'dependants-first' }),
 * )
 * ```
 *
 * @param phaseOf - the operators for one member, given it and the group so far.
 * @param options - the order.
 * @return the operator.
 * @throws TransshipError `PIPELINE_ORDER` on a state that is not a group's (no `findGroup` before it).
 */
export function eachMember(
  phaseOf: (member: MemberState, group: MigrationState) => MonoTypeOperatorFunction<MigrationEvent>,
  options: EachMemberOptions = {},
): MonoTypeOperatorFunction<MigrationEvent> {
  return concatMap((event) =>
    event.type === 'state' ? runMembers(event.state, phaseOf, options) : of(event),
  )
}

function runMembers(
  group: MigrationState,
  phaseOf: (member: MemberState, group: MigrationState) => MonoTypeOperatorFunction<MigrationEvent>,
  options: EachMemberOptions,
): Observable<MigrationEvent> {
  if (!group.members) {
    throw new TransshipError(
      'PIPELINE_ORDER',
      'eachMember needs a group: put findGroup (or readGroupManifest) before it',
    )
  }
  const members = [...group.members]
  const indexes = members.map((_, index) => index)
  if (options.order === 'dependants-first') indexes.reverse()
  const runs = indexes.map((index) =>
    defer((): Observable<MigrationEvent> => {
      const member = members[index] as MemberState
      const current = { ...group, members: [...members] }
      return of<MigrationEvent>({ type: 'state', state: member.state }).pipe(
        phaseOf(member, current),
        map((memberEvent): MigrationEvent => {
          if (memberEvent.type === 'state') {
            members[index] = { ...member, state: memberEvent.state }
            return memberEvent
          }
          return memberEvent.type === 'summary'
            ? memberEvent
            : { ...memberEvent, container: member.container }
        }),
        filter((memberEvent) => memberEvent.type !== 'state'),
      )
    }),
  )
  return concat<MigrationEvent[]>(
    options.concurrently ? merge(...runs) : concat(...runs),
    defer(() => of<MigrationEvent>({ type: 'state', state: { ...group, members } })),
  )
}

/**
 * Changes each member's state with a plain function (no stage, no event), e.g. to mark
 * the volumes a member only mounts.
 *
 * @param change - the new state of a member, given it and the group.
 * @return the operator.
 */
export function mapMembers(
  change: (member: MemberState, group: MigrationState) => MigrationState,
): MonoTypeOperatorFunction<MigrationEvent> {
  return map((event) => {
    if (event.type !== 'state' || !event.state.members) return event
    const group = event.state
    const members = group.members as readonly MemberState[]
    return {
      type: 'state',
      state: {
        ...group,
        members: members.map((member) => ({ ...member, state: change(member, group) })),
      },
    }
  })
}

/**
 * What a member's phases take of its group: how the source engine knows the member (its
 * id, else its name), the ids of every member (which `inspectSource` lets share volumes),
 * and the targets already made, by their sources' ids and names (which `createTarget`
 * points the member's links and `container:` namespaces at).
 *
 * @param member - the member.
 * @param group - its group.
 * @return `{ container, movingWith, peers }`.
 */
export function memberSubject(
  member: MemberState,
  group: MigrationState,
): { container: string; movingWith: string[]; peers: Record<string, string> } {
  const peers: Record<string, string> = {}
  for (const other of group.members ?? []) {
    const { source, target } = other.state
    if (!source || !target || other === member) continue
    peers[source.id] = target.name
    peers[source.name] = target.name
  }
  return {
    container: member.id ?? member.container,
    movingWith: (group.members ?? []).flatMap((other) => (other.id ? [other.id] : [])),
    peers,
  }
}
