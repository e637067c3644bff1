import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { lastStdoutLine, startTransshipDirectly, transship } from '../support/cli.js'
import { CrashScenario } from '../support/crashScenario.js'
import { filesUnder, StagingDirs } from '../support/staging.js'

/**
 * Crash safety, `kill -9` and signals: every run is killed at a point read from its
 * `--json` events, then `transship recover` must bring it to a safe end.
 */
const scenario = new CrashScenario('e2e/crash')
const { env, A, B } = scenario
const PREFIX = `e2e-crash-${Math.random().toString(16).slice(2, 8)}`
const staging = new StagingDirs('transship-crash')

afterEach(() => scenario.removeMade())
afterAll(async () => {
  await staging.removeAll()
  await scenario.removeStateDirs()
})

/**
 * Waits for a stage to finish (or, with `started`, to start) in a run's `--json` events,
 * then kills the run with SIGKILL.
 */
async function killAfter(
  run: ReturnType<typeof startTransshipDirectly>,
  stage: string,
  event: 'stage-finished' | 'stage-started' = 'stage-finished',
) {
  await run.waitForOutput(new RegExp(`"type":"${event}","stage":"${stage}"`))
  run.child.kill('SIGKILL')
  await run.result
}

describe('kill -9 of a migration, then transship recover', () => {
  it.each([
    { stage: 'lock-source', route: 'direct' },
    { stage: 'precopy-volumes', route: 'direct' },
    { stage: 'create-target', route: 'direct' },
    { stage: 'checkpoint', route: 'direct' },
    { stage: 'copy-checkpoint', route: 'direct' },
    { stage: 'checkpoint', route: 'staged' },
    { stage: 'sync-volumes', route: 'staged' },
    { stage: 'write-manifest', route: 'staged' },
    { stage: 'stop-source', route: 'cold' },
    { stage: 'copy-layer', route: 'cold' },
  ])(
    'killed once $stage has finished ($route): recover puts the source back (from its checkpoint where one was taken) and cleans B and staging',
    async ({ stage, route }) => {
      const name = `${PREFIX}-${stage}-${route}`
      const source = await scenario.counter(name)
      await sleep(300)
      const state = await scenario.stateDir()
      const { dir, url } = await staging.make()
      const extra = { direct: [], staged: ['--via', url], cold: ['--no-checkpoint'] }[route] ?? []
      await killAfter(startTransshipDirectly(scenario.migrateArgs(name, state, ...extra)), stage)
      const before = await scenario.countOn(name)

      // Another migration of the container is refused, naming the way out.
      const again = await transship(scenario.migrateArgs(name, state))
      expect(again.code).not.toBe(0)
      expect(again.stderr).toMatch(/unfinished migration: migrate .*transship recover \S+/)

      const listed = await scenario.recover(state, '--dry-run')
      expect(listed.stdout).toMatch(new RegExp(`migrate ${name}.*would roll back`))
      await scenario.recover(state)
      // Cold, the source starts afresh: its counter begins again, so only its run is checked.
      await scenario.expectSourceBack(source, route === 'cold' ? undefined : before)
      await scenario.expectNothingOnB(name)
      expect(await filesUnder(dir)).toEqual([])
      await scenario.expectNothingToRecover(state)
    },
  )
})

describe('kill -9 of a group', () => {
  it('killed once both members are frozen and their checkpoints copied: recover puts both sources back from their checkpoints and cleans B', async () => {
    const [first, second] = [`${PREFIX}-group-a`, `${PREFIX}-group-b`]
    const sources = [await scenario.counter(first), await scenario.counter(second)]
    await sleep(300)
    const state = await scenario.stateDir()
    const run = startTransshipDirectly([...scenario.migrateArgs(first, state), second])
    // Both frozen, then both copied (the second named last); none started.
    await run.waitForOutput(
      new RegExp(`"type":"stage-finished","stage":"copy-checkpoint"[^}]*"container":"${second}"`),
    )
    run.child.kill('SIGKILL')
    await run.result
    const before = [await scenario.countOn(first), await scenario.countOn(second)]

    const listed = await scenario.recover(state, '--dry-run')
    expect(listed.stdout).toMatch(new RegExp(`migrate ${first} ${second}.*would roll back`))
    await scenario.recover(state)
    await scenario.expectSourceBack(sources[0] as (typeof sources)[0], before[0])
    await scenario.expectSourceBack(sources[1] as (typeof sources)[0], before[1])
    await scenario.expectNothingOnB(first)
    await scenario.expectNothingOnB(second)
    await scenario.expectNothingToRecover(state)
  })
})

describe('kill -9 once the target could run: recover rolls forward', () => {
  it.each([{ keep: false }, { keep: true }])(
    'the target started by hand after a kill -9 as start-target began (--keep-backup: $keep): recover finishes the migration; the source stays stopped, the staged backup is removed or named',
    async ({ keep }) => {
      const name = `${PREFIX}-forward-${keep ? 'kept' : 'removed'}`
      const source = await scenario.counter(name)
      const state = await scenario.stateDir()
      const { dir, url } = await staging.make()
      const args = ['--no-checkpoint', '--via', url, ...(keep ? ['--keep-backup'] : [])]
      const run = startTransshipDirectly(scenario.migrateArgs(name, state, ...args))
      await killAfter(run, 'start-target', 'stage-started')
      // As if the process had died between the start of the target and its record (the
      // start may have gone out before the kill: then it runs already).
      await B.getContainer(name)
        .start()
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 304) throw error
        })

      const listed = await scenario.recover(state, '--dry-run')
      expect(listed.stdout).toMatch(new RegExp(`migrate ${name}.*would roll forward`))
      const recovered = await scenario.recover(state)
      expect(recovered.stdout).toMatch(/rolled forward/)

      const target = await B.getContainer(name).inspect()
      expect(target.State.Running).toBe(true)
      const inspect = await source.inspect()
      expect(inspect.State.Running).toBe(false)
      await scenario.expectNoLock(inspect.Id)
      const files = await filesUnder(dir)
      if (keep) {
        expect(files.some((file) => file.endsWith('manifest.json'))).toBe(true)
        const backupId = files[0]?.split('/')[0]
        expect(recovered.stdout).toContain(`kept the staged backup ${url}/${backupId}`)
      } else {
        expect(files).toEqual([])
      }
      await scenario.expectNothingToRecover(state)
    },
  )
})

describe('kill -9 of backup and of restore, then transship recover', () => {
  it('backup killed once sync-volumes has finished: recover puts the source back from its checkpoint and removes the partial backup', async () => {
    const name = `${PREFIX}-backup`
    const source = await scenario.counter(name)
    await sleep(300)
    const state = await scenario.stateDir()
    const { dir, url } = await staging.make()
    const args = ['backup', name, '--from', env.TESTENV_HOST_A, '--via', url]
    await killAfter(
      startTransshipDirectly([...args, '--state-dir', state, '--json']),
      'sync-volumes',
    )
    const before = await scenario.countOn(name)
    await scenario.recover(state)
    await scenario.expectSourceBack(source, before)
    expect(await filesUnder(dir)).toEqual([])
    await scenario.expectNothingToRecover(state)
  })

  it('restore killed once restore-volumes has finished: recover cleans B and leaves the backup as it was', async () => {
    const name = `${PREFIX}-restore`
    await scenario.counter(name)
    const { dir, url } = await staging.make()
    const backup = await transship(['backup', name, '--from', env.TESTENV_HOST_A, '--via', url])
    expect(backup.code, backup.stderr).toBe(0)
    const stored = await filesUnder(dir)
    // The source is stopped by the backup: take it away, so that B is the only place.
    await A.getContainer(name).remove({ force: true })
    const state = await scenario.stateDir()
    const restore = ['restore', lastStdoutLine(backup), '--to', env.TESTENV_HOST_B]
    await killAfter(
      startTransshipDirectly([...restore, '--state-dir', state, '--json']),
      'restore-volumes',
    )
    expect((await B.listVolumes({ filters: { name: [name] } })).Volumes?.length).toBeGreaterThan(0)
    await scenario.recover(state)
    await scenario.expectNothingOnB(name)
    expect(await filesUnder(dir)).toEqual(stored)
    await scenario.expectNothingToRecover(state)
  })
})

describe('signals', () => {
  it('a second SIGINT says the rollback runs, a third exits at once; recover finishes the rollback', async () => {
    const name = `${PREFIX}-signals`
    const source = await scenario.counter(name)
    await sleep(300)
    const state = await scenario.stateDir()
    const run = startTransshipDirectly(scenario.migrateArgs(name, state))
    await run.waitForOutput(/"type":"stage-finished","stage":"checkpoint"/)
    const before = await scenario.countOn(name)
    run.child.kill('SIGINT')
    await sleep(50)
    run.child.kill('SIGINT')
    await run.waitForOutput(/SIGINT: putting back what was done; once more exits at once/)
    run.child.kill('SIGINT')
    const result = await run.result
    expect(result.code).toBe(130)
    expect(result.stderr).toMatch(
      /SIGINT: exiting; `transship recover \S+` brings the migration to a safe end/,
    )
    await scenario.recover(state)
    await scenario.expectSourceBack(source, before)
    await scenario.expectNothingOnB(name)
  })
})

describe('one migration per container at a time', () => {
  it('two migrations of one container at once: one goes through, the other is refused at once, naming the holder, having changed nothing', async () => {
    const name = `${PREFIX}-twice`
    await scenario.counter(name)
    const state = await scenario.stateDir()
    const args = scenario.migrateArgs(name, state, '--no-checkpoint')
    const first = startTransshipDirectly(args)
    // The second starts once the first holds the lock, before it changes anything else.
    await first.waitForOutput(/"type":"stage-finished","stage":"lock-source"/)
    const second = await transship(args)
    const results = [await first.result, second]
    const succeeded = results.filter((result) => result.code === 0)
    const refused = results.filter((result) => result.code !== 0)
    expect(succeeded).toHaveLength(1)
    expect(refused).toHaveLength(1)
    expect(refused[0]?.stderr).toMatch(
      new RegExp(
        `container ${name} on .* is being migrated by migrate ${name} \\(migration \\S+, process \\d+ on `,
      ),
    )
    expect((await B.getContainer(name).inspect()).State.Running).toBe(true)
  })
})
