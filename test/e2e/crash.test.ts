import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type Docker from 'dockerode'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { makeDeviceDir, removeDeviceDir, removeLabelled } from '../support/cleanup.js'
import { type CliResult, startTransshipDirectly, transship } from '../support/cli.js'
import { dockerAt, TEST_LABEL } from '../support/docker.js'
import { runOnce } from '../support/runOnce.js'
import { filesUnder, StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const IMAGE = env.TESTENV_IMAGE_BUSYBOX
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/crash' }
const PREFIX = `e2e-crash-${randomBytes(3).toString('hex')}`
const staging = new StagingDirs('transship-crash')
/** Counts in its memory, a line every 20 ms, into its volume: a restart begins again at 1. */
const COUNTER = [
  'sh',
  '-c',
  'i=0; while :; do i=$((i+1)); echo $i >> /data/count; usleep 20000; done',
]

/** A state directory of this file's own, to read its ledgers. */
let stateDir: string

afterEach(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
})
afterAll(async () => {
  await staging.removeAll()
  if (stateDir) await rm(stateDir, { recursive: true, force: true })
})

async function freshStateDir(): Promise<string> {
  stateDir ??= await mkdtemp(join(tmpdir(), 'transship-crash-state-'))
  return mkdtemp(join(stateDir, 'run-'))
}

/** A running counter with a volume at /data, on A. */
async function counter(name: string): Promise<Docker.Container> {
  await A.createVolume({ Name: name, Labels: LABELS })
  const container = await A.createContainer({
    name,
    Image: IMAGE,
    Cmd: COUNTER,
    Labels: LABELS,
    HostConfig: { Binds: [`${name}:/data`], RestartPolicy: { Name: 'unless-stopped' } },
  })
  await container.start()
  return container
}

/**
 * The counter's lines, read from its volume on A (the counter may be frozen): 1, 2, 3, …
 * with none missing or repeated, or the test fails.
 */
async function countOn(name: string): Promise<number> {
  const stdout = await runOnce(A, {
    image: IMAGE,
    cmd: ['cat', '/v/count'],
    hostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: '/v', ReadOnly: true }] },
  })
  const lines = stdout.trim().split('\n').map(Number)
  expect(lines).toEqual(lines.map((_, index) => index + 1))
  return lines.length
}

function migrateArgs(name: string, state: string, ...extra: string[]): string[] {
  return [
    'migrate',
    name,
    '--from',
    env.TESTENV_HOST_A,
    '--to',
    env.TESTENV_HOST_B,
    '--state-dir',
    state,
    '--json',
    ...extra,
  ]
}

/** `transship recover` with this state directory: its result, checked to be a success. */
async function recover(state: string, ...extra: string[]): Promise<CliResult> {
  const result = await transship(['recover', '--state-dir', state, ...extra])
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
  return result
}

/** The source runs again as it was: its restart policy, no lock, counting on from memory. */
async function expectSourceBack(source: Docker.Container, before: number): Promise<void> {
  const inspect = await source.inspect()
  expect(inspect.State.Running).toBe(true)
  expect(inspect.HostConfig.RestartPolicy?.Name).toBe('unless-stopped')
  expect(
    await A.listContainers({ all: true, filters: { name: [`transship-lock-${inspect.Id}`] } }),
  ).toEqual([])
  await sleep(300)
  // A start afresh would count from 1 again, and repeat lines.
  expect(await countOn(inspect.Name.slice(1))).toBeGreaterThan(before)
}

/** B holds nothing of the migration: no target, no volume, no helper. */
async function expectNothingOnB(name: string): Promise<void> {
  expect(await B.listContainers({ all: true, filters: { name: [`^/${name}$`] } })).toEqual([])
  expect((await B.listVolumes({ filters: { name: [name] } })).Volumes ?? []).toEqual([])
  const helpers = await B.listContainers({ all: true, filters: { label: ['transship.helper'] } })
  expect(helpers.map((helper) => helper.Labels['transship.helper'])).toEqual([])
}

describe('kill -9 of a migration, then transship recover', () => {
  it.each([
    ['lock-source', false],
    ['precopy-volumes', false],
    ['create-target', false],
    ['checkpoint', false],
    ['copy-checkpoint', false],
    ['checkpoint', true],
    ['sync-volumes', true],
    ['write-manifest', true],
  ])(
    'killed once %s has finished (staged: %s): recover puts the source back from its checkpoint and cleans B and staging',
    async (stage, staged) => {
      const name = `${PREFIX}-${stage}-${staged ? 'staged' : 'direct'}`
      const source = await counter(name)
      await sleep(300)
      const state = await freshStateDir()
      const { dir, url } = await staging.make()
      const run = startTransshipDirectly(
        migrateArgs(name, state, ...(staged ? ['--via', url] : [])),
      )
      await run.waitForOutput(new RegExp(`"type":"stage-finished","stage":"${stage}"`))
      run.child.kill('SIGKILL')
      await run.result
      const before = await countOn(name)

      // Another migration of the container is refused, naming the way out.
      const again = await transship(migrateArgs(name, state))
      expect(again.code).not.toBe(0)
      expect(again.stderr).toMatch(/unfinished migration: migrate .*transship recover \S+/)

      const listed = await recover(state, '--dry-run')
      expect(listed.stdout).toMatch(new RegExp(`migrate ${name}.*would roll back`))
      await recover(state)
      await expectSourceBack(source, before)
      await expectNothingOnB(name)
      expect(await filesUnder(dir)).toEqual([])
      expect((await recover(state, '--dry-run')).stdout).toBe('no unfinished migration\n')
    },
  )
})

describe('signals', () => {
  it('a second SIGINT says the rollback runs, a third exits at once; recover finishes the rollback', async () => {
    const name = `${PREFIX}-signals`
    const source = await counter(name)
    await sleep(300)
    const state = await freshStateDir()
    const run = startTransshipDirectly(migrateArgs(name, state))
    await run.waitForOutput(/"type":"stage-finished","stage":"checkpoint"/)
    const before = await countOn(name)
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
    await recover(state)
    await expectSourceBack(source, before)
    await expectNothingOnB(name)
  })
})

describe('one migration per container at a time', () => {
  it('two migrations of one container at once: one goes through, the other is refused at once, naming the holder, having changed nothing', async () => {
    const name = `${PREFIX}-twice`
    await counter(name)
    const state = await freshStateDir()
    const first = startTransshipDirectly(migrateArgs(name, state, '--no-checkpoint'))
    // The second starts once the first holds the lock, before it changes anything else.
    await first.waitForOutput(/"type":"stage-finished","stage":"lock-source"/)
    const second = await transship(migrateArgs(name, state, '--no-checkpoint'))
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

/** Stops B's engine (SIGSTOP) for `use`, and lets it go on afterwards, whatever happens. */
async function withEngineBStopped<T>(use: (resume: () => void) => Promise<T>): Promise<T> {
  const pid = Number((await readFile('/run/transship-testenv/b/dockerd.pid', 'utf8')).trim())
  let stopped = true
  const resume = () => {
    if (stopped) process.kill(pid, 'SIGCONT')
    stopped = false
  }
  process.kill(pid, 'SIGSTOP')
  // Whatever hangs meanwhile, B answers again within a minute: the other tests need it.
  const deadline = setTimeout(resume, 60_000)
  try {
    return await use(resume)
  } finally {
    clearTimeout(deadline)
    resume()
  }
}

describe('the destination stops answering after the freeze', () => {
  it('Ctrl-C: the target cannot be removed, so the source stays stopped, and the error says how to finish; once B answers, recover starts it from its checkpoint', async () => {
    const name = `${PREFIX}-fenced`
    const source = await counter(name)
    await sleep(300)
    const state = await freshStateDir()
    const run = startTransshipDirectly(migrateArgs(name, state, '--undo-timeout', '2'))
    await run.waitForOutput(/"type":"stage-finished","stage":"checkpoint"/)
    const before = await countOn(name)
    const result = await withEngineBStopped(async () => {
      run.child.kill('SIGINT')
      const ended = await run.result
      expect((await source.inspect()).State.Running).toBe(false)
      return ended
    })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(
      new RegExp(
        `start ${name} again on .*: not done, since container .* may run .*two copies must never run.*transship recover \\S+`,
      ),
    )
    await recover(state)
    await expectSourceBack(source, before)
    await expectNothingOnB(name)
  })
})

/** Fills a volume on A with `mib` MiB of random bytes, through a one-shot container. */
async function fill(volume: string, mib: number): Promise<void> {
  await runOnce(A, {
    image: IMAGE,
    cmd: ['sh', '-c', `dd if=/dev/urandom of=/v/big bs=1M count=${mib} 2>/dev/null`],
    hostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/v' }] },
  })
}

/** B's engine's mount namespace: its /var/lib/docker is B's data root. */
function inEngineB(command: readonly string[]): void {
  const pid = execFileSync('cat', ['/run/transship-testenv/b/dockerd.pid'], { encoding: 'utf8' })
  execFileSync('nsenter', [`--mount=/proc/${pid.trim()}/ns/mnt`, ...command])
}

describe('a disk fills up while a volume is copied', () => {
  it('staging on a 16 MiB tmpfs, a 40 MiB volume: the migration fails before the freeze, the source runs on untouched, staging and B are left empty', async () => {
    const name = `${PREFIX}-staging-full`
    const source = await counter(name)
    await fill(name, 40)
    const started = (await source.inspect()).State.StartedAt
    const mount = await mkdtemp(join(tmpdir(), 'transship-small-staging-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mount])
    try {
      const state = await freshStateDir()
      const result = await transship(migrateArgs(name, state, '--via', `file://${mount}`))
      expect(result.code).not.toBe(0)
      expect(result.stderr).toMatch(/precopy-volumes failed: .*(ENOSPC|no space left)/i)
      const now = await source.inspect()
      expect(now.State.Running).toBe(true)
      expect(now.State.StartedAt).toBe(started)
      expect(await filesUnder(mount)).toEqual([])
      await expectNothingOnB(name)
      expect((await recover(state, '--dry-run')).stdout).toBe('no unfinished migration\n')
    } finally {
      execFileSync('umount', [mount])
      await rm(mount, { recursive: true, force: true })
    }
  })

  it("the destination's volume on a 16 MiB tmpfs, a 40 MiB volume: the migration fails before the freeze, the source runs on untouched, B has no volume left", async () => {
    const name = `${PREFIX}-destination-full`
    // A local volume bound to a directory of its engine's host: on B, that is a small tmpfs.
    const device = await makeDeviceDir(A, IMAGE, name)
    await makeDeviceDir(B, IMAGE, name)
    inEngineB(['mount', '-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', device])
    try {
      await A.createVolume({
        Name: name,
        Labels: LABELS,
        DriverOpts: { type: 'none', o: 'bind', device },
      })
      const source = await A.createContainer({
        name,
        Image: IMAGE,
        Cmd: COUNTER,
        Labels: LABELS,
        HostConfig: { Binds: [`${name}:/data`] },
      })
      await source.start()
      await fill(name, 40)
      const started = (await source.inspect()).State.StartedAt
      const state = await freshStateDir()
      const result = await transship(migrateArgs(name, state))
      expect(result.code).not.toBe(0)
      expect(result.stderr).toMatch(/precopy-volumes failed: .*(ENOSPC|no space left)/i)
      const now = await source.inspect()
      expect(now.State.Running).toBe(true)
      expect(now.State.StartedAt).toBe(started)
      await expectNothingOnB(name)
      expect((await recover(state, '--dry-run')).stdout).toBe('no unfinished migration\n')
    } finally {
      await removeLabelled(A, LABELS)
      await removeLabelled(B, LABELS)
      inEngineB(['umount', device])
      await Promise.all([removeDeviceDir(A, IMAGE, name), removeDeviceDir(B, IMAGE, name)])
    }
  })
})

describe('the source exits on its own during the pre-copy', () => {
  it('with a checkpoint: the migration fails at the freeze, saying so; the source is left as it left itself (exited), B is left empty', async () => {
    const name = `${PREFIX}-exits`
    const source = await counter(name)
    await fill(name, 64)
    const state = await freshStateDir()
    const run = startTransshipDirectly(migrateArgs(name, state))
    await run.waitForOutput(/"type":"stage-started","stage":"precopy-volumes"/)
    // Its main process ends by itself (the counter's shell, killed from inside).
    await source.kill({ signal: 'SIGKILL' })
    const result = await run.result
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(
      new RegExp(
        `container ${name} on .* exited on its own \\(exit code 137\\) while its data was copied`,
      ),
    )
    expect((await source.inspect()).State.Running).toBe(false)
    await expectNothingOnB(name)
    expect((await recover(state, '--dry-run')).stdout).toBe('no unfinished migration\n')
  })
})
