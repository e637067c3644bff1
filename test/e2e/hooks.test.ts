import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { type CliResult, errorLines, linesOf, transship } from '../support/cli.js'
import { dockerAt, removeTestContainersAndVolumes, TEST_LABEL } from '../support/docker.js'
import { testEnv } from '../support/testenv.js'

/**
 * Hooks (issue 17): a command run in the source before the freeze, one in the target once
 * it runs; their exit code, output and time in the events; a failing pre-freeze hook stops
 * the migration before anything stops, a failing post-restore hook rolls it back unless
 * `--keep-on-hook-failure`; the labels `transship.pre-freeze` and `transship.post-restore`.
 */
const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const run = randomBytes(3).toString('hex')
const made: string[] = []

interface HookEventLine {
  type: 'hook'
  hook: string
  command: string
  exitCode: number
  output: string
  durationMs: number
}

/** A running source with a volume at /data, and labels of its own. */
async function source(tag: string, labels: Record<string, string> = {}) {
  const name = `transship-hooks-${tag}-${run}`
  made.push(name)
  const container = await hostA.createContainer({
    name,
    Image: env.TESTENV_IMAGE_BUSYBOX,
    Cmd: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
    Labels: { ...TEST_LABEL, ...labels },
    HostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: '/data' }] },
  })
  await container.start()
  return { name, container }
}

function migrate(name: string, ...args: string[]): Promise<CliResult> {
  return transship([
    'migrate',
    name,
    '--from',
    env.TESTENV_HOST_A,
    '--to',
    env.TESTENV_HOST_B,
    '--json',
    ...args,
  ])
}

function hookEvents(result: CliResult): HookEventLine[] {
  return linesOf(result.stdout)
    .map((line) => JSON.parse(line) as { type: string })
    .filter((event): event is HookEventLine => event.type === 'hook')
}

async function runsOn(docker: typeof hostA, name: string): Promise<boolean | undefined> {
  return docker
    .getContainer(name)
    .inspect()
    .then(
      (inspect) => inspect.State.Running,
      () => undefined,
    )
}

afterEach(async () => {
  await removeTestContainersAndVolumes([hostA, hostB], made.splice(0))
})

describe('hooks', () => {
  it('runs --pre-freeze in the source before the freeze and --post-restore in the target, both in the events', async () => {
    const { name } = await source('both')
    const result = await migrate(
      name,
      '--pre-freeze',
      'echo quiesced > /data/marker && echo flushed',
      '--post-restore',
      'cat /data/marker',
    )
    expect(result.code, result.stderr).toBe(0)
    const [preFreeze, postRestore] = hookEvents(result)
    expect(preFreeze).toMatchObject({
      hook: 'pre-freeze',
      command: 'echo quiesced > /data/marker && echo flushed',
      exitCode: 0,
      output: 'flushed\n',
    })
    expect(preFreeze?.durationMs).toBeGreaterThanOrEqual(0)
    // What the pre-freeze hook wrote after the pre-copy arrived: it ran before the freeze.
    expect(postRestore).toMatchObject({ hook: 'post-restore', exitCode: 0, output: 'quiesced\n' })
    expect(await runsOn(hostB, name)).toBe(true)
  })

  it('a failing --pre-freeze stops the migration before anything stops, with its exit code and output', async () => {
    const { name } = await source('prefail')
    const result = await migrate(name, '--pre-freeze', 'echo not now >&2; exit 3')
    expect(result.code).toBe(1)
    const [error] = errorLines(result)
    expect(error).toContain(
      'the pre-freeze hook `echo not now >&2; exit 3` exited with code 3: not now',
    )
    expect(error).toContain('nothing was stopped')
    expect(hookEvents(result)).toMatchObject([{ hook: 'pre-freeze', exitCode: 3 }])
    expect(await runsOn(hostA, name)).toBe(true)
    expect(await runsOn(hostB, name)).toBeUndefined()
  })

  it('a failing --post-restore rolls back (the source starts again from its checkpoint), unless --keep-on-hook-failure', async () => {
    const rolledBack = await source('postfail')
    const failed = await migrate(rolledBack.name, '--post-restore', 'exit 4')
    expect(failed.code).toBe(1)
    expect(errorLines(failed)[0]).toContain(
      'the post-restore hook `exit 4` exited with code 4: the migration is rolled back',
    )
    expect(await runsOn(hostB, rolledBack.name)).toBeUndefined()
    expect(await runsOn(hostA, rolledBack.name)).toBe(true)
    expect(errorLines(failed)[0]).toMatch(/Undone: .*start .* again .*from its checkpoint/)

    const kept = await source('postkeep')
    const result = await migrate(
      kept.name,
      '--no-checkpoint',
      '--post-restore',
      'exit 5',
      '--keep-on-hook-failure',
    )
    expect(result.code, result.stderr).toBe(0)
    const warnings = linesOf(result.stdout)
      .map((line) => JSON.parse(line) as { type: string; message?: string })
      .filter((event) => event.type === 'warning')
      .map((event) => event.message)
    expect(warnings).toContain(
      `the post-restore hook \`exit 5\` exited with code 5; ${kept.name} is kept running (--keep-on-hook-failure)`,
    )
    expect(await runsOn(hostB, kept.name)).toBe(true)
  })

  it('takes the commands from the labels transship.pre-freeze and transship.post-restore', async () => {
    const { name } = await source('labels', {
      'transship.pre-freeze': 'echo from-label > /data/label-marker',
      'transship.post-restore': 'test -f /data/label-marker',
    })
    const result = await migrate(name, '--no-checkpoint')
    expect(result.code, result.stderr).toBe(0)
    expect(hookEvents(result).map((event) => [event.hook, event.exitCode])).toEqual([
      ['pre-freeze', 0],
      ['post-restore', 0],
    ])
  })
})
