import type Dockerode from 'dockerode'
import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { defineStage } from '../pipeline/stage.js'
import { initialState, type MemberState } from '../pipeline/state.js'
import { newBackupId } from '../stages/backupId.js'
import { inspectNamed } from '../stages/inspectSource.js'
import { COMPOSE_PROJECT_LABEL, dependencyOrder, memberOf } from './memberOrder.js'

/** The label compose puts on a `compose run` container: never part of the project's services. */
const COMPOSE_ONEOFF_LABEL = 'com.docker.compose.oneoff'

/** Options of {@link findGroup}: a compose project, or containers named together. */
export interface FindGroupOptions {
  /** The source engine. */
  readonly engine: EngineClient
  /** The compose project (`com.docker.compose.project`) whose containers move together. */
  readonly project?: string
  /** Containers, by name or id, that move together. */
  readonly containers?: readonly string[]
  /**
   * Each member's backup id, given its index (dependencies first) and the group's id
   * (default: made from its name when it is inspected).
   */
  readonly memberId?: (index: number, groupId: string) => string
}

/**
 * A group's selection as `findGroup` takes it, from options that may carry either.
 *
 * @param options - `project` and/or `containers`.
 * @return only those given.
 */
export function groupSelection(options: {
  readonly project?: string | undefined
  readonly containers?: readonly string[] | undefined
}): Pick<FindGroupOptions, 'project' | 'containers'> {
  return {
    ...(options.project === undefined ? {} : { project: options.project }),
    ...(options.containers ? { containers: options.containers } : {}),
  }
}

/**
 * Stage `find-group`: reads which containers form the group (a compose project's, its
 * `compose run` containers left out, or those named), and orders them dependencies first
 * ({@link dependencyOrder}); the state then holds one member each, with a state of its
 * own on the run's ledger. A dependency outside the group is a warning: it stays where it
 * is. Changes nothing.
 *
 * @param options - engine, and the project or the containers.
 * @return the stage operator.
 * @throws TransshipError `INVALID_OPTION` (neither or both of project and containers, a
 *   container named twice), `PROJECT_NOT_FOUND`, `CONTAINER_NOT_FOUND`, `GROUP_CYCLE`.
 */
export function findGroup(options: FindGroupOptions) {
  return defineStage('find-group', async (state, { warn }) => {
    const inspects = await groupContainers(options)
    const { order, outside } = dependencyOrder(inspects.map(memberOf))
    for (const line of outside) warn(`${line}: it is not part of the group and stays where it is`)
    const id = state.id ?? newBackupId(options.project ?? 'group')
    const members = order.map(
      (member, index): MemberState => ({
        container: member.name,
        id: member.id,
        state: initialState({
          ledger: state.ledger,
          ...(state.signal ? { signal: state.signal } : {}),
          ...(options.memberId ? { id: options.memberId(index, id) } : {}),
        }),
      }),
    )
    return { ...state, id, members }
  })
}

async function groupContainers(
  options: FindGroupOptions,
): Promise<Dockerode.ContainerInspectInfo[]> {
  const { engine, project, containers } = options
  if ((project === undefined) === (containers === undefined || containers.length === 0)) {
    throw new TransshipError(
      'INVALID_OPTION',
      'a group is a compose project or a list of containers: give one of them',
    )
  }
  const refs =
    project === undefined ? [...(containers ?? [])] : await projectContainers(engine, project)
  const inspects = await Promise.all(refs.map((ref) => inspectNamed(engine, ref)))
  const seen = new Map<string, string>()
  for (const [index, inspect] of inspects.entries()) {
    const other = seen.get(inspect.Id)
    if (other !== undefined) {
      throw new TransshipError(
        'INVALID_OPTION',
        `containers ${JSON.stringify(other)} and ${JSON.stringify(refs[index])} are the same container`,
      )
    }
    seen.set(inspect.Id, refs[index] as string)
  }
  return project === undefined ? inspects : inspects.sort(byCreation)
}

/** A project's service containers, by id: all of them, running or not. */
async function projectContainers(engine: EngineClient, project: string): Promise<string[]> {
  const listed = await engine.call(`list containers of project ${project}`, (docker) =>
    docker.listContainers({
      all: true,
      filters: { label: [`${COMPOSE_PROJECT_LABEL}=${project}`] },
    }),
  )
  const services = listed.filter((container) => container.Labels[COMPOSE_ONEOFF_LABEL] !== 'True')
  if (services.length === 0) {
    throw new TransshipError(
      'PROJECT_NOT_FOUND',
      `no container of compose project ${JSON.stringify(project)} on ${engine.url} (label ${COMPOSE_PROJECT_LABEL}=${project})`,
    )
  }
  return services.map((container) => container.Id)
}

/**
 * Oldest first, to the nanosecond: compose creates a service's dependencies before it, and
 * v1 keeps no other trace of `depends_on` (the list's `Created` has whole seconds).
 */
function byCreation(a: Dockerode.ContainerInspectInfo, b: Dockerode.ContainerInspectInfo): number {
  const key = (inspect: Dockerode.ContainerInspectInfo) =>
    inspect.Created.replace(/(?:\.(\d+))?Z$/, (_, fraction = '') => `.${fraction.padEnd(9, '0')}Z`)
  return key(a).localeCompare(key(b))
}
