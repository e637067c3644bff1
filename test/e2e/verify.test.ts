import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  checkDestination,
  connectEngine,
  copyLayer,
  createTarget,
  defineStage,
  type EngineClient,
  inspectSource,
  type MigrationState,
  precopyLayer,
  precopyVolumes,
  rollbackOnFailure,
  startMigration,
  startTarget,
  stopSource,
  summarize,
  syncVolumes,
  type Verification,
  verifyTarget,
} from '../../packages/core/src/index.js'
import { removeLabelled } from '../support/cleanup.js'
import { type CliResult, transship } from '../support/cli.js'
import { IDLE_COMMAND } from '../support/containers.js'
import { dockerAt, execIn } from '../support/docker.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const A = env.TESTENV_HOST_A
const B = env.TESTENV_HOST_B
const docker = { A: dockerAt(A), B: dockerAt(B) }
const PREFIX = `e2e-verify-${randomBytes(3).toString('hex')}`
/** On everything this file creates: cleanup by label. */
const LABELS = { 'transship.test': 'true', 'transship.test.file': 'e2e/verify' }
const IMAGE = env.TESTENV_IMAGE_BUSYBOX

/**
 * What the migrated container holds: in its volume at /data and in its layer, a file, a
 * mode, a symlink, a hard link, a directory.
 */
const CONTENT = [
  'mkdir -p /data/dir /opt/app',
  'echo original > /data/file',
  'echo private > /data/secret && chmod 644 /data/secret',
  'ln -s file /data/link',
  'ln /data/file /data/dir/same',
  'echo 1 > /data/counter && echo bye > /data/gone',
  'echo setting=1 > /etc/app.conf',
  'echo "#!/bin/sh" > /opt/app/tool && chmod 755 /opt/app/tool',
  'ln -s tool /opt/app/current',
].join(' && ')

let engines: { A: EngineClient; B: EngineClient }

beforeAll(async () => {
  engines = { A: await connectEngine(A), B: await connectEngine(B) }
})

afterAll(async () => {
  await Promise.all([removeLabelled(docker.A, LABELS), removeLabelled(docker.B, LABELS)])
  await Promise.all([engines.A.close(), engines.B.close()])
})

/**
 * What the container runs: it writes into its volume and its layer at once as it starts
 * (before the engine takes State.StartedAt), then idles.
 */
const COMMAND = ['sh', '-c', `date > /data/boot && date > /etc/boot && ${IDLE_COMMAND[2]}`]

/** A running container on A with a volume at /data, and {@link CONTENT} written. */
async function sourceContainer(name: string): Promise<void> {
  await docker.A.createVolume({ Name: `${name}-data`, Labels: LABELS })
  const container = await docker.A.createContainer({
    name,
    Image: IMAGE,
    Cmd: COMMAND,
    Labels: LABELS,
    HostConfig: { Mounts: [{ Type: 'volume', Source: `${name}-data`, Target: '/data' }] },
  })
  await container.start()
  await shell(container, CONTENT)
}

async function shell(container: Docker.Container, script: string): Promise<void> {
  const result = await execIn(container, ['sh', '-c', script])
  expect(result, result.stderr).toMatchObject({ exitCode: 0 })
}

function verify(name: string, ...flags: string[]): Promise<CliResult> {
  return transship(['verify', name, '--from', A, '--to', B, ...flags])
}

function parsed(result: CliResult): Verification {
  return JSON.parse(result.stdout) as Verification
}

describe('transship verify', () => {
  it('passes on a cold migration, lists the running target’s own changes apart, and finds planted differences', async () => {
    const name = `${PREFIX}-cold`
    await sourceContainer(name)
    const migrated = await transship(['migrate', name, '--from', A, '--to', B, '--no-checkpoint'])
    expect(migrated.code, migrated.stderr).toBe(0)

    const clean = await verify(name)
    expect(clean.code, clean.stdout + clean.stderr).toBe(0)
    expect(clean.stdout).toContain('volume /data')
    expect(clean.stdout).toContain('result: the target holds what the source held')
    const json = parsed(await verify(name, '--json'))
    expect(json.differences).toEqual([])
    expect(json.trees.map((tree) => [tree.kind, tree.mountPoint])).toEqual([
      ['volume', '/data'],
      ['layer', '/'],
    ])
    expect(json.trees.every((tree) => (tree.entries?.source ?? 0) > 1)).toBe(true)

    // The running target writes, rewrites and deletes: its own doing, listed apart.
    const target = docker.B.getContainer(name)
    await shell(target, 'echo 2 > /data/counter && rm /data/gone && echo new > /data/log')
    const running = await verify(name, '--json')
    expect(running.code, running.stderr).toBe(0)
    const own = parsed(running)
    expect(own.differences).toEqual([])
    expect(own.changedByTarget.map((d) => [d.shown, d.kind])).toEqual(
      expect.arrayContaining([
        ['/data/counter', 'changed'],
        ['/data/gone', 'missing'],
        ['/data/log', 'added'],
      ]),
    )

    // Differences that predate the target's start: planted, then the target restarted.
    await shell(
      target,
      [
        'echo planted > /data/file',
        'chmod 600 /data/secret',
        'ln -sfn secret /data/link',
        'echo setting=2 > /etc/app.conf',
        'chmod 700 /opt/app/tool',
        'ln -sfn gone /opt/app/current',
      ].join(' && '),
    )
    await target.restart({ t: 0 })
    const planted = await verify(name)
    expect(planted.code, planted.stdout + planted.stderr).toBe(1)
    const lines = planted.stdout.split('\n')
    const line = (path: string) => lines.find((l) => l.trim().startsWith(`${path}:`)) ?? ''
    expect(line('/data/file')).toMatch(/content sha256 [0-9a-f]{12}… → sha256 [0-9a-f]{12}…/)
    expect(line('/data/secret')).toContain('mode 0644 → 0600')
    expect(line('/data/link')).toContain('link target "file" → "secret"')
    expect(line('/etc/app.conf (layer)')).toContain('content')
    expect(line('/opt/app/tool (layer)')).toContain('mode 0755 → 0700')
    expect(line('/opt/app/current (layer)')).toContain('link target "tool" → "gone"')
    expect(planted.stdout).toMatch(/result: \d+ path\(s\) differ/)
    const found = parsed(await verify(name, '--json'))
    expect(found.differences.find((d) => d.shown === '/data/file')?.fields).toEqual([
      expect.objectContaining({ field: 'mtime' }),
      expect.objectContaining({ field: 'size' }),
      expect.objectContaining({ field: 'content' }),
    ])
  }, 180_000)

  it('passes on a migration with a checkpoint, which migrate --verify checked before the start', async () => {
    const name = `${PREFIX}-hot`
    await sourceContainer(name)
    const migrated = await transship([
      'migrate',
      name,
      '--from',
      A,
      '--to',
      B,
      '--verify',
      '--json',
    ])
    expect(migrated.code, migrated.stderr).toBe(0)
    const stages = migrated.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; stage?: string })
      .filter((event) => event.type === 'stage-finished')
      .map((event) => event.stage)
    expect(stages.indexOf('verify-target')).toBeGreaterThan(stages.indexOf('copy-checkpoint'))
    expect(stages.indexOf('verify-target')).toBeLessThan(stages.indexOf('resume-target'))
    const result = await verify(name)
    expect(result.code, result.stdout + result.stderr).toBe(0)
  }, 180_000)

  it('names what is at fault in bad input', async () => {
    const missing = await verify(`${PREFIX}-none`)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(`no container ${PREFIX}-none on ${A} (the source)`)
    const noTarget = await transship(['verify', `${PREFIX}-none`, '--from', A])
    expect(noTarget.code).toBe(1)
    expect(noTarget.stderr).toContain("'--to <engine>' not specified")
  })
})

describe('verifyTarget in a pipeline', () => {
  /**
   * A direct migration, cold, with `extra` run once the layer is copied, then the check.
   * Without `precopy` the layer goes after the freeze through the archive API (whole-second
   * mtimes), else through the helper program.
   */
  function migration(
    name: string,
    { precopy = true, extra = defineStage('nothing', async (state) => state) } = {},
  ) {
    const engine = { source: engines.A, destination: engines.B }
    const events = startMigration()
      .pipe(
        inspectSource({ engine: engines.A, container: name }),
        checkDestination({ engine: engines.B, hostAccess: 'warn' }),
        precopyVolumes(engine),
        createTarget({ engine: engines.B }),
        precopy ? precopyLayer(engine) : (events) => events,
        stopSource({ engine: engines.A }),
        syncVolumes(engine),
        copyLayer(engine),
      )
      .pipe(
        extra,
        verifyTarget(engine),
        startTarget({ engine: engines.B }),
        rollbackOnFailure(),
        summarize(),
      )
    return new Promise<void>((resolve, reject) =>
      events.subscribe({ error: reject, complete: resolve }),
    )
  }

  /** Writes into the target's copy of /data, before it starts. */
  const plantDifference = defineStage('plant-difference', async (state: MigrationState) => {
    const volume = Object.values(state.restoredVolumes)[0] as string
    const container = await docker.B.createContainer({
      Image: IMAGE,
      Cmd: ['sh', '-c', 'echo planted > /v/file'],
      Labels: LABELS,
      HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/v' }] },
    })
    await container.start()
    await container.wait()
    await container.remove()
    return state
  })

  it('lets a faithful copy start, and rolls back on a planted difference', async () => {
    const good = `${PREFIX}-stage-good`
    await sourceContainer(good)
    await migration(good)
    expect((await docker.B.getContainer(good).inspect()).State.Running).toBe(true)
    const throughArchives = `${PREFIX}-stage-archives`
    await sourceContainer(throughArchives)
    await migration(throughArchives, { precopy: false })
    expect((await docker.B.getContainer(throughArchives).inspect()).State.Running).toBe(true)

    const bad = `${PREFIX}-stage-bad`
    await sourceContainer(bad)
    const failure = await migration(bad, { extra: plantDifference }).then(
      () => undefined,
      (error: unknown) => error as Error & { code?: string },
    )
    expect(failure?.code).toBe('VERIFY_FAILED')
    expect(failure?.message).toMatch(/\/data\/file: .*content sha256/)
    // Rolled back: the target is gone, the source runs again.
    await expect(docker.B.getContainer(bad).inspect()).rejects.toMatchObject({ statusCode: 404 })
    expect((await docker.A.getContainer(bad).inspect()).State.Running).toBe(true)
  }, 180_000)
})
