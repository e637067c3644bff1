import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type Docker from 'dockerode'

/** The compose project of the group tests: redis, app and worker (see its file). */
export const SHOP_COMPOSE_FILE = fileURLToPath(
  new URL('../fixtures/compose-shop/docker-compose.yml', import.meta.url),
)

/**
 * Runs Debian 12's `docker-compose` (1.29) on project `project` of {@link SHOP_COMPOSE_FILE}
 * against the engine at `host`, with `env` added.
 *
 * @return its stdout.
 */
export async function dockerCompose(
  host: string,
  project: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'docker-compose',
    ['-p', project, '-f', SHOP_COMPOSE_FILE, ...args],
    { env: { ...process.env, DOCKER_HOST: host, ...env } },
  )
  return stdout
}

/** A container event as the engine reports it. */
export interface ContainerEvent {
  readonly action: string
  readonly name: string
  readonly timeNano: number
}

/**
 * The container events of one compose project between two times (`Date.now()`), oldest first.
 *
 * @param docker - the engine.
 * @param project - the compose project (label `com.docker.compose.project`).
 * @param actions - e.g. `['die']`.
 */
export async function projectEvents(
  docker: Docker,
  project: string,
  actions: readonly string[],
  since: number,
  until: number,
): Promise<ContainerEvent[]> {
  const stream = await docker.getEvents({
    since: Math.floor(since / 1000),
    until: Math.ceil(until / 1000) + 1,
    filters: {
      type: ['container'],
      event: [...actions],
      label: [`com.docker.compose.project=${project}`],
    },
  })
  const chunks: Buffer[] = []
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const event = JSON.parse(line) as {
        Action: string
        timeNano: number
        Actor: { Attributes: Record<string, string> }
      }
      return {
        action: event.Action,
        name: event.Actor.Attributes.name ?? '',
        timeNano: event.timeNano,
      }
    })
}

/** A project's move as the engines saw it: its containers' `die` at A and `start` at B. */
export interface ProjectMove {
  readonly died: readonly ContainerEvent[]
  readonly started: readonly ContainerEvent[]
  /** Nanoseconds (engine clock) of the first and last of each. */
  readonly firstDied: number
  readonly lastDied: number
  readonly firstStarted: number
  readonly lastStarted: number
}

/**
 * The `die` events of a project's containers at `from` and their `start` events at `to`
 * between two times (`Date.now()`): whether it moved in one freeze window, and its downtime.
 */
export async function projectMove(
  from: Docker,
  to: Docker,
  project: string,
  since: number,
  until: number,
): Promise<ProjectMove> {
  const died = await projectEvents(from, project, ['die'], since, until)
  const started = await projectEvents(to, project, ['start'], since, until)
  const times = (events: readonly ContainerEvent[]) => events.map((event) => event.timeNano)
  return {
    died,
    started,
    firstDied: Math.min(...times(died)),
    lastDied: Math.max(...times(died)),
    firstStarted: Math.min(...times(started)),
    lastStarted: Math.max(...times(started)),
  }
}
