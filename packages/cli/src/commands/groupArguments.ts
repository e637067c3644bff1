import { Argument, Option } from 'commander'
import type { loadCore } from '../loadCore.js'

/** What `--project` and `--name` give a command that takes a group. */
export interface GroupFlags {
  readonly project?: string
  readonly name?: string
}

/**
 * `[containers...]`: one container, or several that move together.
 *
 * @param verb - what the command does with them, e.g. `move`.
 */
export function containersArgument(verb: string): Argument {
  return new Argument(
    '[containers...]',
    `container name or id; several ${verb} together as a group, in one freeze window`,
  )
}

/**
 * `--project NAME`: a compose project's containers as a group.
 *
 * @param verb - what the command does with them, e.g. `move`.
 */
export function projectOption(verb: string): Option {
  return new Option(
    '--project <name>',
    `${verb} a compose project's containers together (label com.docker.compose.project), in one freeze window`,
  )
}

type Core = Awaited<ReturnType<typeof loadCore>>

/** One container, or a group: a compose project or several containers. */
export type Subject =
  | { readonly container: string; readonly label: string }
  | {
      readonly container?: undefined
      readonly label: string
      readonly members: { readonly project: string } | { readonly containers: string[] }
    }

/**
 * What the arguments name: one container, or a group.
 *
 * @param containers - the command's container arguments.
 * @param flags - `--project`, `--name`.
 * @param core - the loaded core, for its error.
 * @throws TransshipError `INVALID_OPTION` for no container and no project, both, or
 *   `--name` with a group.
 */
export function groupOf(
  containers: readonly string[],
  flags: GroupFlags,
  { TransshipError }: Core,
): Subject {
  const [first, ...more] = containers
  if (flags.project !== undefined && first !== undefined) {
    throw new TransshipError(
      'INVALID_OPTION',
      `--project ${flags.project} takes that project's containers: name no container besides it (got ${containers.join(' ')})`,
    )
  }
  if (flags.project === undefined && first === undefined) {
    throw new TransshipError(
      'INVALID_OPTION',
      'name the container (several make a group), or a compose project with --project NAME',
    )
  }
  if (first !== undefined && more.length === 0) return { container: first, label: first }
  if (flags.name !== undefined) {
    throw new TransshipError(
      'INVALID_OPTION',
      `--name ${flags.name} names one target: the containers of a group keep their names`,
    )
  }
  return flags.project === undefined
    ? { label: containers.join(' '), members: { containers: [...containers] } }
    : { label: `project ${flags.project}`, members: { project: flags.project } }
}
