import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { makeDeviceDir, removeDeviceDir } from '../support/cleanup.js'
import { startTransshipDirectly, transship } from '../support/cli.js'
import { CrashScenario } from '../support/crashScenario.js'
import { runOnce } from '../support/runOnce.js'
import { filesUnder } from '../support/staging.js'

/**
 * Crash safety, the faults of the world around a migration: the destination's engine
 * stops answering, a disk fills up, the source exits on its own, the SSH connection to
 * the staging is cut. Each is triggered at a point read from the `--json` events, and
 * each case ends in a safe state, asserted.
 */
const scenario = new CrashScenario('e2e/faults')
const { env, A, B } = scenario
const IMAGE = scenario.image
const PREFIX = `e2e-faults-${Math.random().toString(16).slice(2, 8)}`

afterEach(() => scenario.removeMade())
afterAll(() => scenario.removeStateDirs())

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
    const source = await scenario.counter(name)
    await sleep(300)
    const state = await scenario.stateDir()
    const run = startTransshipDirectly(scenario.migrateArgs(name, state, '--undo-timeout', '2'))
    await run.waitForOutput(/"type":"stage-finished","stage":"checkpoint"/)
    const before = await scenario.countOn(name)
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
    await scenario.recover(state)
    await scenario.expectSourceBack(source, before)
    await scenario.expectNothingOnB(name)
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
    const source = await scenario.counter(name)
    await fill(name, 40)
    const started = (await source.inspect()).State.StartedAt
    const mount = await mkdtemp(join(tmpdir(), 'transship-small-staging-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mount])
    try {
      const state = await scenario.stateDir()
      const result = await transship(scenario.migrateArgs(name, state, '--via', `file://${mount}`))
      expect(result.code).not.toBe(0)
      expect(result.stderr).toMatch(/precopy-volumes failed: .*(ENOSPC|no space left)/i)
      const now = await source.inspect()
      expect(now.State.Running).toBe(true)
      expect(now.State.StartedAt).toBe(started)
      expect(await filesUnder(mount)).toEqual([])
      await scenario.expectNothingOnB(name)
      await scenario.expectNothingToRecover(state)
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
      const source = await scenario.counter(name, {
        DriverOpts: { type: 'none', o: 'bind', device },
      })
      await fill(name, 40)
      const started = (await source.inspect()).State.StartedAt
      const state = await scenario.stateDir()
      const result = await transship(scenario.migrateArgs(name, state))
      expect(result.code).not.toBe(0)
      expect(result.stderr).toMatch(/precopy-volumes failed: .*(ENOSPC|no space left)/i)
      // The engine never deletes a bound directory: the error says what stays there.
      expect(result.stderr).toContain(`the files copied into ${device}, the host directory`)
      const now = await source.inspect()
      expect(now.State.Running).toBe(true)
      expect(now.State.StartedAt).toBe(started)
      await scenario.expectNothingOnB(name)
      await scenario.expectNothingToRecover(state)
    } finally {
      await scenario.removeMade()
      inEngineB(['umount', device])
      await Promise.all([removeDeviceDir(A, IMAGE, name), removeDeviceDir(B, IMAGE, name)])
    }
  })
})

describe('the source exits on its own during the pre-copy', () => {
  it('with a checkpoint: the migration fails at the freeze, saying so; the source is left as it left itself (exited), B is left empty', async () => {
    const name = `${PREFIX}-exits`
    const source = await scenario.counter(name)
    await fill(name, 64)
    const state = await scenario.stateDir()
    const run = startTransshipDirectly(scenario.migrateArgs(name, state))
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
    await scenario.expectNothingOnB(name)
    await scenario.expectNothingToRecover(state)
  })
})

/**
 * Cuts the SSH connections to B's sshd and refuses new ones, inside B's network namespace:
 * every packet to its port is answered with a TCP reset. Returns what lets them through again.
 */
function cutSshToB(): () => void {
  const rule = ['INPUT', '-p', 'tcp', '--dport', env.TESTENV_SSH_PORT, '-j', 'REJECT']
  const iptables = (action: '-I' | '-D') =>
    execFileSync('ip', [
      'netns',
      'exec',
      env.TESTENV_HOST_B_NETNS,
      'iptables',
      action,
      ...rule,
      '--reject-with',
      'tcp-reset',
    ])
  iptables('-I')
  let cut = true
  return () => {
    if (cut) iptables('-D')
    cut = false
  }
}

describe('the SSH connection to the staging is cut after the freeze', () => {
  it('the migration fails, the source continues from its checkpoint, B is cleaned; the staged files it could not remove are named, and recover removes them once SSH answers', async () => {
    const name = `${PREFIX}-scp-cut`
    const source = await scenario.counter(name)
    await fill(name, 16)
    const state = await scenario.stateDir()
    // sshd on B runs on this machine's file system: the staging path is a local path too.
    const dir = await mkdtemp(join(tmpdir(), 'transship-scp-cut-'))
    const via = `scp://${env.TESTENV_SSH_ALIAS}${dir}`
    const run = startTransshipDirectly(
      scenario.migrateArgs(name, state, '--via', via, '--ssh-config', env.TESTENV_SSH_CONFIG),
    )
    let letThrough = () => {}
    try {
      await run.waitForOutput(/"type":"stage-finished","stage":"checkpoint"/)
      letThrough = cutSshToB()
      const result = await run.result
      const before = await scenario.countOn(name)
      expect(result.code).not.toBe(0)
      expect(result.stderr).toMatch(/Could NOT undo: remove .*transship recover \S+/)
      // B and the source do not depend on the staging: both are back as they were.
      const inspect = await source.inspect()
      expect(inspect.State.Running).toBe(true)
      await sleep(300)
      expect(await scenario.countOn(name)).toBeGreaterThan(before)
      await scenario.expectNothingOnB(name)
      expect(await filesUnder(dir)).not.toEqual([])

      letThrough()
      await transship(['recover', '--state-dir', state, '--ssh-config', env.TESTENV_SSH_CONFIG])
      expect(await filesUnder(dir)).toEqual([])
      await scenario.expectNoLock(inspect.Id)
      await scenario.expectNothingToRecover(state)
    } finally {
      letThrough()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
