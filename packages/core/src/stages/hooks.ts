import { concatMap, from, type MonoTypeOperatorFunction, of } from 'rxjs'
import type { EngineClient } from '../engine/client.js'
import { execCommand } from '../engine/execCommand.js'
import { TransshipError } from '../errors.js'
import type { MigrationEvent } from '../pipeline/events.js'
import { defineStage, type StageContext } from '../pipeline/stage.js'
import type { MigrationState } from '../pipeline/state.js'
import { requireSource } from './require.js'

/** The labels a container names its own hooks with, as offen/docker-volume-backup's do. */
export const PRE_FREEZE_LABEL = 'transship.pre-freeze'
export const POST_RESTORE_LABEL = 'transship.post-restore'

/** The commands a migration runs in its containers (`--pre-freeze`, `--post-restore`). */
export interface Hooks {
  /** Run in the source before the freeze; by default its label `transship.pre-freeze`. */
  readonly preFreeze?: string
  /** Run in the target once it runs; by default the label `transship.post-restore`. */
  readonly postRestore?: string
  /** On the post-restore hook's failure, keep the target rather than roll back. */
  readonly keepOnFailure?: boolean
}

/** Options of {@link preFreezeHook}. */
export interface PreFreezeHookOptions {
  /** The source engine. */
  readonly engine: EngineClient
  /** The command (`sh -c`); by default the source's label `transship.pre-freeze`, if any. */
  readonly command?: string
}

/** Options of {@link postRestoreHook}. */
export interface PostRestoreHookOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** The command (`sh -c`); by default the source's label `transship.post-restore`, if any. */
  readonly command?: string
  /** On the hook's failure, keep the target running (with a warning) rather than roll back. */
  readonly keepOnFailure?: boolean
}

/**
 * Stage `pre-freeze`: runs a command in the running source before it is frozen (e.g.
 * `redis-cli BGSAVE`, to quiesce a database), and fails the migration, before anything is
 * stopped, when it exits with another code than 0. Its exit code, output and time are a
 * `hook` event. Without a command (no option, no label) it is not a stage at all: no event.
 * A source that does not run is warned about.
 *
 * ## Example
 * ```ts
 * events.pipe(
 *   preFreezeHook({ engine: a, command: 'redis-cli BGSAVE' }),
 *   checkpointSource({ engine: a }),
 * )
 * ```
 *
 * @param options - the source engine, the command.
 * @return the operator.
 * @throws TransshipError `HOOK_FAILED`, with the command's exit code and output.
 */
export function preFreezeHook(
  options: PreFreezeHookOptions,
): MonoTypeOperatorFunction<MigrationEvent> {
  const commandOf = (state: MigrationState) => options.command ?? labelOf(state, PRE_FREEZE_LABEL)
  const stage = defineStage('pre-freeze', async (state, context) => {
    const source = requireSource(state, 'pre-freeze')
    const command = commandOf(state) ?? ''
    if (!source.running) {
      context.warn(`the pre-freeze hook \`${command}\` did not run: ${source.name} is not running`)
      return state
    }
    await runHook(options.engine, source.id, 'pre-freeze', command, context, (failure) => {
      throw new TransshipError(
        'HOOK_FAILED',
        `${failure} in ${source.name} on ${options.engine.url}: nothing was stopped`,
      )
    })
    return state
  })
  return onlyWith(commandOf, stage)
}

/**
 * Stage `post-restore`: runs a command in the target once it runs (e.g. a smoke test),
 * and fails the migration, so that it is rolled back, when the command exits with another
 * code than 0, unless `keepOnFailure`. Put it between a start stage told not to commit
 * (`commit: false`) and {@link commitTarget}: a failure then still rolls back. Without a
 * command (no option, no label) it is not a stage at all: no event.
 *
 * @param options - the destination engine, the command, whether a failure keeps the target.
 * @return the operator.
 * @throws TransshipError `HOOK_FAILED`, with the command's exit code and output.
 */
export function postRestoreHook(
  options: PostRestoreHookOptions,
): MonoTypeOperatorFunction<MigrationEvent> {
  const commandOf = (state: MigrationState) => options.command ?? labelOf(state, POST_RESTORE_LABEL)
  const stage = defineStage('post-restore', async (state, context) => {
    const command = commandOf(state) ?? ''
    const { target } = state
    if (!target) return state
    const { State } = await options.engine.inspectContainer(target.id)
    if (!State.Running) {
      context.warn(
        `the post-restore hook \`${command}\` did not run: ${target.name} is not running`,
      )
      return state
    }
    await runHook(options.engine, target.id, 'post-restore', command, context, (failure) => {
      if (options.keepOnFailure) {
        context.warn(`${failure}; ${target.name} is kept running (--keep-on-hook-failure)`)
        return
      }
      throw new TransshipError('HOOK_FAILED', `${failure}: the migration is rolled back`)
    })
    return state
  })
  return onlyWith(commandOf, stage)
}

/**
 * Records in the run's ledger that the target runs for good, so that nothing is rolled
 * back after it: after a start stage told `commit: false`. Not a stage: no event.
 *
 * @return the operator.
 */
export function commitTarget(): MonoTypeOperatorFunction<MigrationEvent> {
  return concatMap((event) =>
    event.type === 'state' ? from(event.state.ledger.commit().then(() => event)) : of(event),
  )
}

/** Runs `stage` on the states that have a command for it; passes the others on untouched. */
function onlyWith(
  commandOf: (state: MigrationState) => string | undefined,
  stage: MonoTypeOperatorFunction<MigrationEvent>,
): MonoTypeOperatorFunction<MigrationEvent> {
  return concatMap((event) =>
    event.type === 'state' && commandOf(event.state) !== undefined
      ? of(event).pipe(stage)
      : of(event),
  )
}

/** Runs a hook, reports it, and calls `failed` with what went wrong when it exits non-zero. */
async function runHook(
  engine: EngineClient,
  id: string,
  hook: string,
  command: string,
  context: StageContext,
  failed: (failure: string) => void,
): Promise<void> {
  const result = await execCommand(engine, id, command, context.signal)
  context.hookRan({ hook, command, ...result })
  if (result.exitCode === 0) return
  const output = result.output.trim()
  failed(
    `the ${hook} hook \`${command}\` exited with code ${result.exitCode}${output ? `: ${lastLines(output)}` : ''}`,
  )
}

/** The label a container gave itself for a hook. */
function labelOf(state: MigrationState, label: string): string | undefined {
  const labels = state.source?.config.Labels as Record<string, string> | undefined
  const command = labels?.[label]
  return command?.trim() ? command : undefined
}

/** The last lines of a command's output, for an error message. */
function lastLines(output: string): string {
  return output.split('\n').slice(-5).join(' | ')
}
