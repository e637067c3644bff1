import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type Docker from 'dockerode'
import { expect } from 'vitest'
import { removeLabelled } from './cleanup.js'
import { type CliResult, transship } from './cli.js'
import { dockerAt, TEST_LABEL } from './docker.js'
import { runOnce } from './runOnce.js'
import { testEnv } from './testenv.js'

/** Counts in its memory, a line every 20 ms, into its volume: a restart begins again at 1. */
const COUNTER = [
  'sh',
  '-c',
  'i=0; while :; do i=$((i+1)); echo $i >> /data/count; usleep 20000; done',
]

/**
 * What the crash-safety tests share: a counting source container on A whose memory shows
 * whether it continued or began again, migrations of it with a state directory of their
 * own, `transship recover`, and the checks of the safe ends (the source back as it was, B
 * left empty). Everything it makes carries the test file's labels.
 */
export class CrashScenario {
  readonly env = testEnv()
  readonly A = dockerAt(this.env.TESTENV_HOST_A)
  readonly B = dockerAt(this.env.TESTENV_HOST_B)
  readonly image = this.env.TESTENV_IMAGE_BUSYBOX
  readonly labels: Record<string, string>
  readonly #stateRoot: Promise<string>

  /** @param file - the test file, e.g. `e2e/crash`: its label. */
  constructor(file: string) {
    this.labels = { ...TEST_LABEL, 'transship.test.file': file }
    this.#stateRoot = mkdtemp(join(tmpdir(), 'transship-crash-state-'))
  }

  /** Removes what the last test made on A and B (afterEach). */
  async removeMade(): Promise<void> {
    await Promise.all([removeLabelled(this.A, this.labels), removeLabelled(this.B, this.labels)])
  }

  /** Removes the state directories (afterAll). */
  async removeStateDirs(): Promise<void> {
    await rm(await this.#stateRoot, { recursive: true, force: true })
  }

  /** A fresh state directory, to read one run's ledgers. */
  async stateDir(): Promise<string> {
    return mkdtemp(join(await this.#stateRoot, 'run-'))
  }

  /** A running counter with a volume at /data (restart policy unless-stopped), on A. */
  async counter(name: string, volumeOptions: Docker.VolumeCreateOptions = {}) {
    await this.A.createVolume({ ...volumeOptions, Name: name, Labels: this.labels })
    const container = await this.A.createContainer({
      name,
      Image: this.image,
      Cmd: COUNTER,
      Labels: this.labels,
      HostConfig: { Binds: [`${name}:/data`], RestartPolicy: { Name: 'unless-stopped' } },
    })
    await container.start()
    return container
  }

  /**
   * The counter's lines, read from its volume on A (the counter may be frozen): 1, 2, 3, …
   * with none missing or repeated, or the test fails.
   */
  async countOn(name: string): Promise<number> {
    const stdout = await runOnce(this.A, {
      image: this.image,
      cmd: ['cat', '/v/count'],
      hostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: '/v', ReadOnly: true }] },
    })
    const lines = stdout.trim().split('\n').map(Number)
    expect(lines).toEqual(lines.map((_, index) => index + 1))
    return lines.length
  }

  /** `transship migrate NAME` from A to B, with `--json` events and this state directory. */
  migrateArgs(name: string, state: string, ...extra: string[]): string[] {
    return [
      'migrate',
      name,
      '--from',
      this.env.TESTENV_HOST_A,
      '--to',
      this.env.TESTENV_HOST_B,
      '--state-dir',
      state,
      '--json',
      ...extra,
    ]
  }

  /** `transship recover` with this state directory: its result, checked to be a success. */
  async recover(state: string, ...extra: string[]): Promise<CliResult> {
    const result = await transship(['recover', '--state-dir', state, ...extra])
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
    return result
  }

  /** Whether nothing is left for `recover` in this state directory. */
  async expectNothingToRecover(state: string): Promise<void> {
    expect((await this.recover(state, '--dry-run')).stdout).toBe('no unfinished migration\n')
  }

  /**
   * The source runs again as it was: its restart policy, no lock; with `countedBefore`,
   * counting on from memory (a start afresh would count from 1 again, and repeat lines).
   */
  async expectSourceBack(source: Docker.Container, countedBefore?: number): Promise<void> {
    const inspect = await source.inspect()
    expect(inspect.State.Running).toBe(true)
    expect(inspect.HostConfig.RestartPolicy?.Name).toBe('unless-stopped')
    await this.expectNoLock(inspect.Id)
    if (countedBefore === undefined) return
    await sleep(300)
    expect(await this.countOn(inspect.Name.slice(1))).toBeGreaterThan(countedBefore)
  }

  /** No migration holds a lock on the container (id) on A. */
  async expectNoLock(id: string): Promise<void> {
    const locks = await this.A.listContainers({
      all: true,
      filters: { name: [`transship-lock-${id}`] },
    })
    expect(locks).toEqual([])
  }

  /** B holds nothing of the migration: no target, no volume, no helper. */
  async expectNothingOnB(name: string): Promise<void> {
    const { B } = this
    expect(await B.listContainers({ all: true, filters: { name: [`^/${name}$`] } })).toEqual([])
    expect((await B.listVolumes({ filters: { name: [name] } })).Volumes ?? []).toEqual([])
    const helpers = await B.listContainers({ all: true, filters: { label: ['transship.helper'] } })
    expect(helpers.map((helper) => helper.Labels['transship.helper'])).toEqual([])
  }
}
