import type Dockerode from 'dockerode'
import { TransshipError } from '../errors.js'

/** Compose v2's list of a service's dependencies: `service:condition:restart`, comma-separated. */
const DEPENDS_ON = 'com.docker.compose.depends_on'
/** The label compose puts on every container of a project, naming it. */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project'
const SERVICE = 'com.docker.compose.service'
/** The shortest id prefix taken to name a container: the length of Docker's short ids. */
const SHORT_ID = 12

/** What the order needs of a container: from its inspect output (dockerode's ContainerInspectInfo). */
export interface GroupMember {
  /** The full, 64-hex id. */
  readonly id: string
  /** The name, without the leading `/`. */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  /** The fields of `HostConfig` that name other containers. */
  readonly hostConfig: {
    readonly NetworkMode?: string
    readonly IpcMode?: string
    readonly PidMode?: string
    readonly VolumesFrom?: readonly string[] | null
    readonly Links?: readonly string[] | null
  }
}

/** The order of a group's members; {@link dependencyOrder}. */
export interface MemberOrder {
  /** Dependencies first. */
  readonly order: readonly GroupMember[]
  /** Dependencies on containers outside the group: `<member> needs <what> (<why>)` lines, for warnings. */
  readonly outside: readonly string[]
}

/** One dependency of a member: on a member of the group, or (`on` undefined) on something outside it. */
interface Need {
  /** What is needed, e.g. `service redis`, `container db`. */
  readonly what: string
  /** Where the member says so, e.g. `NetworkMode`. */
  readonly why: string
  readonly on: GroupMember | undefined
}

/**
 * What {@link dependencyOrder} needs of a container.
 *
 * ## Example
 * ```ts
 * const member = memberOf(await docker.getContainer('web').inspect())
 * ```
 *
 * @param inspect - the container's inspect output.
 * @return its id, name, labels and the host configuration that names other containers.
 */
export function memberOf(inspect: Dockerode.ContainerInspectInfo): GroupMember {
  const { NetworkMode, IpcMode, PidMode, VolumesFrom, Links } = inspect.HostConfig
  return {
    id: inspect.Id,
    name: inspect.Name.replace(/^\//, ''),
    labels: inspect.Config.Labels ?? {},
    hostConfig: { NetworkMode, IpcMode, PidMode, VolumesFrom, Links },
  }
}

/**
 * The order to create and start a group's members in (dependencies first; freeze them in
 * the reverse order). A member's dependencies are the services of its compose
 * `depends_on` label, and the containers its `NetworkMode`, `IpcMode`, `PidMode`
 * (`container:<name or id>`), `VolumesFrom` and `Links` name. Among members whose
 * dependencies come before them, the input order is kept.
 *
 * ## Example
 * ```ts
 * const { order, outside } = dependencyOrder(inspects.map(memberOf))
 * for (const line of outside) log(`warning: ${line}`)
 * ```
 *
 * @param members - the group's members.
 * @return the members in order, and the dependencies on containers outside the group.
 * @throws TransshipError `GROUP_CYCLE`, naming the members that depend on each other.
 */
export function dependencyOrder(members: readonly GroupMember[]): MemberOrder {
  const needs = new Map(members.map((member) => [member, needsOf(member, members)]))
  const outside = members.flatMap((member) =>
    (needs.get(member) ?? []).filter((need) => !need.on).map((need) => describe(member, need)),
  )
  const placed = new Set<GroupMember>()
  const ready = (member: GroupMember) =>
    !placed.has(member) &&
    (needs.get(member) ?? []).every((need) => !need.on || placed.has(need.on))
  for (let next = members.find(ready); next; next = members.find(ready)) placed.add(next)
  const left = members.filter((member) => !placed.has(member))
  if (left.length > 0) throw cycleError(left, needs)
  return { order: [...placed], outside: [...new Set(outside)] }
}

/** A member's dependencies, but not on itself. */
function needsOf(member: GroupMember, members: readonly GroupMember[]): Need[] {
  const needs = [...serviceNeeds(member, members), ...containerNeeds(member, members)]
  return needs.filter((need) => need.on !== member)
}

/** The services of the `depends_on` label: each the members of that service in the project. */
function serviceNeeds(member: GroupMember, members: readonly GroupMember[]): Need[] {
  const project = member.labels[COMPOSE_PROJECT_LABEL]
  const services = (member.labels[DEPENDS_ON] ?? '').split(',').map(serviceOf)
  return services
    .filter((service) => service !== '')
    .flatMap((service): Need[] => {
      const what = `service ${service}`
      const why = `label ${DEPENDS_ON}`
      const replicas = members.filter(
        (m) =>
          project !== undefined &&
          m.labels[COMPOSE_PROJECT_LABEL] === project &&
          m.labels[SERVICE] === service,
      )
      if (replicas.length === 0) return [{ what, why, on: undefined }]
      return replicas.map((on) => ({ what, why, on }))
    })
}

/** `redis` of `redis:service_started:false`, or of the older form `redis`. */
function serviceOf(entry: string): string {
  return (entry.split(':', 1)[0] ?? '').trim()
}

/** The containers the host configuration names, each resolved against the group. */
function containerNeeds(member: GroupMember, members: readonly GroupMember[]): Need[] {
  const { hostConfig } = member
  const refs: [ref: string, why: string][] = []
  for (const mode of ['NetworkMode', 'IpcMode', 'PidMode'] as const) {
    const value = hostConfig[mode]
    if (value?.startsWith('container:')) refs.push([value.slice('container:'.length), mode])
  }
  // `name`, `name:ro`, `id:rw`; and `/redis:/app/redis` (the linked container's name first).
  for (const entry of hostConfig.VolumesFrom ?? []) refs.push([entry, 'VolumesFrom'])
  for (const entry of hostConfig.Links ?? []) refs.push([entry, 'Links'])
  return refs
    .map(([ref, why]) => [(ref.split(':', 1)[0] ?? '').replace(/^\//, ''), why] as const)
    .filter(([ref]) => ref !== '')
    .map(([ref, why]) => ({ what: `container ${ref}`, why, on: resolve(ref, members) }))
}

/** The member a name or id names: its id, its name, or a prefix of its id of 12 or more. */
function resolve(ref: string, members: readonly GroupMember[]): GroupMember | undefined {
  return (
    members.find((member) => member.id === ref || member.name === ref) ??
    (ref.length >= SHORT_ID ? members.find((member) => member.id.startsWith(ref)) : undefined)
  )
}

function describe(member: GroupMember, need: Need): string {
  return `${member.name} needs ${need.what} (${need.why})`
}

/**
 * The error for members of which none can come first: each waits on another of them, so
 * following their first such dependency from one of them comes round to a cycle.
 */
function cycleError(
  left: readonly GroupMember[],
  needs: ReadonlyMap<GroupMember, readonly Need[]>,
): TransshipError {
  const waitingOn = (member: GroupMember) =>
    (needs.get(member) ?? []).find((need) => need.on && left.includes(need.on))
  const path: GroupMember[] = []
  let at = left[0]
  while (at && !path.includes(at)) {
    path.push(at)
    at = waitingOn(at)?.on
  }
  const cycle = at ? path.slice(path.indexOf(at)) : path
  const names = cycle.map((member) => member.name)
  const reasons = cycle.map((member, i) => {
    const next = cycle[(i + 1) % cycle.length]
    const need = (needs.get(member) ?? []).find((n) => n.on === next)
    return need ? describe(member, need) : member.name
  })
  return new TransshipError(
    'GROUP_CYCLE',
    `containers ${names.join(', ')} depend on each other (${[...names, names[0]].join(' → ')}): ${reasons.join(', ')}; none of them can be created first`,
  )
}
