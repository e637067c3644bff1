import type { EngineClient, LedgerResolver, RecoveredMigration, Transport } from '@transship/core'
import { Command, Option } from 'commander'
import { type EngineFlags, engineFlagOptions, engineOptionsOf } from '../engineOptions.js'
import { loadCore } from '../loadCore.js'
import { openTransport, type TransportFlags, transportModuleOption } from '../transports.js'
import { type StateFlags, stateDirOption, undoTimeoutOption } from './options.js'

interface RecoverFlags extends EngineFlags, TransportFlags, StateFlags {
  readonly from?: string
  readonly dryRun?: boolean
  readonly force?: boolean
  readonly json?: boolean
}

/** The outcomes that leave a migration at a safe end. */
const SAFE = new Set<RecoveredMigration['outcome']>(['rolled-back', 'rolled-forward', 'listed'])

/**
 * `transship recover`: brings the unfinished migrations recorded on this host (a run
 * killed, cut off, or whose rollback could not finish) to a safe end.
 *
 * @return the subcommand.
 */
export function recoverCommand(): Command {
  const command = new Command('recover')
    .description(
      'Bring every unfinished migration recorded on this host to a safe end: roll it back ' +
        '(the source running again, from its checkpoint where one was taken; what was made at ' +
        'the destination and in staging removed), or, when its target already runs, finish it. ' +
        'Exits 0 when each ended safely, 1 otherwise, naming what is left.',
    )
    .argument('[id]', 'only this migration (the id its error or `recover --dry-run` names)')
    .option('--dry-run', 'only list the unfinished migrations and what recovering them would do')
    .option(
      '--force',
      'also take over a migration whose process may still run (one started on another host)',
    )
    .option('--json', 'print one JSON object per migration')
    .addOption(
      new Option(
        '--from <engine>',
        'with --force ID: the source engine whose lock to take over, for a migration recorded on another host',
      ),
    )
  for (const option of [
    stateDirOption(),
    undoTimeoutOption(),
    ...engineFlagOptions(),
    transportModuleOption(),
  ])
    command.addOption(option)
  return command.action(async (id: string | undefined, flags: RecoverFlags) => {
    const { recoverMigrations, TransshipError } = await loadCore()
    const connections = connectionsFor(flags)
    try {
      if (flags.from !== undefined && (id === undefined || !flags.force)) {
        throw new TransshipError(
          'INVALID_OPTION',
          '--from takes over the lock of a migration recorded on another host: give its ID and --force',
        )
      }
      const results = await recoverMigrations({
        resolver: connections.resolver,
        ...(flags.undoTimeout === undefined ? {} : { timeoutMs: flags.undoTimeout * 1000 }),
        ...(id === undefined ? {} : { id }),
        ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
        ...(flags.dryRun ? { dryRun: true } : {}),
        ...(flags.force ? { force: true } : {}),
      }).catch(async (error: unknown) => {
        const elsewhere = error instanceof TransshipError && error.code === 'MIGRATION_NOT_FOUND'
        if (!elsewhere || flags.from === undefined || id === undefined) throw error
        await takeOverLock(id, flags.from, connections.resolver)
        return []
      })
      if (flags.from !== undefined && results.length === 0) return
      for (const result of results) {
        console.log(flags.json ? JSON.stringify(result) : describe(result))
      }
      if (results.length === 0 && !flags.json) console.log('no unfinished migration')
      if (!results.every((result) => SAFE.has(result.outcome))) process.exitCode = 1
    } finally {
      await connections.close()
    }
  })
}

/**
 * `recover --force ID --from ENGINE`: releases the lock of a migration recorded on another
 * host (its process is taken to be gone for good), so that the container can be migrated
 * again. What that migration made is not undone here: its ledger is on its own host.
 */
async function takeOverLock(id: string, from: string, resolver: LedgerResolver): Promise<void> {
  const { releaseLocksOf } = await loadCore()
  const engine = await resolver.engine(from)
  await releaseLocksOf(engine, id)
  console.log(
    `released the lock of migration ${id} on ${engine.url}; what it made is not undone here (its ledger is on the host that ran it)`,
  )
}

/** One line per migration: what it was, and how it ended. */
function describe(result: RecoveredMigration): string {
  const what = `${result.id} (${result.command}, process ${result.holder.pid} on ${result.holder.host}, started ${result.startedAt})`
  const listed = (lines: readonly string[]) => (lines.length > 0 ? lines.join('; ') : 'nothing')
  switch (result.outcome) {
    case 'listed':
      return `${what}: would ${result.plan}; outstanding: ${listed(result.steps)}`
    case 'running':
      return `${what}: its process still runs: left alone (--force takes it over)`
    case 'rolled-back':
      return `${what}: rolled back: ${listed(result.done)}`
    case 'rolled-forward':
      return `${what}: its target runs: rolled forward${result.done.length > 0 ? `: ${listed(result.done)}` : ''}`
    case 'incomplete':
      return `${what}: could NOT ${result.plan} fully: ${listed(result.problems)}${result.done.length > 0 ? `; done: ${listed(result.done)}` : ''}`
  }
}

/** Engines and transports by URL, connected once each, with the command's flags. */
function connectionsFor(flags: RecoverFlags): {
  resolver: LedgerResolver
  close: () => Promise<void>
} {
  const engines = new Map<string, Promise<EngineClient>>()
  const transports = new Map<string, Promise<Transport>>()
  const once = <T>(cache: Map<string, Promise<T>>, url: string, open: () => Promise<T>) => {
    let opened = cache.get(url)
    if (!opened) {
      opened = open()
      cache.set(url, opened)
    }
    return opened
  }
  return {
    resolver: {
      engine: (url) =>
        once(engines, url, async () =>
          (await loadCore()).connectEngine(url, engineOptionsOf(flags)),
        ),
      transport: (url) => once(transports, url, () => openTransport(url, flags)),
    },
    close: async () => {
      const settled = await Promise.allSettled([...engines.values(), ...transports.values()])
      await Promise.allSettled(
        settled
          .flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
          .map((opened) => opened.close?.()),
      )
    },
  }
}
