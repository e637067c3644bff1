import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLines, transship } from '../support/cli.js'
import { dockerAt, execIn, removeTestContainersAndVolumes, TEST_LABEL } from '../support/docker.js'
import { StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

/**
 * Restore-time changes (issue 17): the target is made with other port bindings, variables,
 * network and volume names than its source's, shown first by `plan` and
 * `restore --dry-run`; the source keeps its own.
 */
const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const run = randomBytes(3).toString('hex')
const NAME = `transship-changes-${run}`
const VOLUME = `transship-changes-${run}`
const NETWORK = `transship-changes-${run}`
const CHANGES = [
  '--publish',
  '127.0.0.1:18091:80',
  '-p',
  '18092:81/udp',
  '--env',
  'MODE=staging',
  '-e',
  'EXTRA=added',
  '--network',
  `${NETWORK}=${NETWORK}-b`,
  '--volume-name',
  `/data=${VOLUME}-b`,
]
const staging = new StagingDirs('transship-changes')

beforeAll(async () => {
  await hostA.createNetwork({ Name: NETWORK, Labels: TEST_LABEL })
  const container = await hostA.createContainer({
    name: NAME,
    Image: env.TESTENV_IMAGE_BUSYBOX,
    Cmd: ['sh', '-c', 'echo kept > /data/file; trap "exit 0" TERM; while :; do sleep 1; done'],
    Env: ['MODE=production', 'KEEP=1'],
    ExposedPorts: { '80/tcp': {} },
    Labels: TEST_LABEL,
    HostConfig: {
      Mounts: [{ Type: 'volume', Source: VOLUME, Target: '/data' }],
      PortBindings: { '80/tcp': [{ HostPort: '18090' }] },
      NetworkMode: NETWORK,
    },
  })
  await container.start()
})

afterAll(async () => {
  await removeTestContainersAndVolumes([hostA, hostB], [VOLUME, `${VOLUME}-b`])
  for (const [docker, name] of [
    [hostA, NETWORK],
    [hostB, `${NETWORK}-b`],
  ] as const) {
    await docker
      .getNetwork(name)
      .remove()
      .catch(() => {})
  }
  await staging.removeAll()
})

describe('restore-time changes', () => {
  it('plan lists them, and a bad one before anything runs, naming its flag', async () => {
    const plan = await transship([
      'plan',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      ...CHANGES,
    ])
    expect(plan.code, plan.stdout + plan.stderr).toBe(0)
    expect(plan.stdout).toContain('  target changes')
    expect(plan.stdout).toContain(
      "ports published instead of the source's: 80/tcp on 127.0.0.1:18091, 81/udp on 0.0.0.0:18092",
    )
    expect(plan.stdout).toContain('environment MODE changed')
    expect(plan.stdout).toContain('environment EXTRA added')
    expect(plan.stdout).toContain(`network ${NETWORK} joined as ${NETWORK}-b`)
    expect(plan.stdout).toContain(`volume ${VOLUME} (at /data) made as ${VOLUME}-b`)
    expect(plan.stdout).toContain(`networks to create: ${NETWORK}-b`)

    const unknown = await transship([
      'plan',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--network',
      'nonexistent=x1',
    ])
    expect(unknown.code).toBe(1)
    expect(unknown.stdout).toContain(
      `--network nonexistent=x1: ${NAME} is not attached to a network nonexistent (its networks: ${NETWORK})`,
    )
    const bad = await transship([
      'migrate',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--publish',
      '99999:80',
    ])
    expect(bad.code).toBe(1)
    expect(errorLines(bad)).toEqual([
      '[transship] --publish 99999:80: 99999 is not a port (1 to 65535); expected [ip:][hostPort:]containerPort[/protocol], e.g. 8080:80 or 127.0.0.1:8080:80/tcp',
    ])
    expect((await hostA.getContainer(NAME).inspect()).State.Running).toBe(true)
  })

  it('restore --dry-run shows them; migrate makes the target with them, the source keeps its own', async () => {
    const { url } = await staging.make()
    const backup = await transship([
      'backup',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--via',
      url,
      '--leave-running',
    ])
    expect(backup.code, backup.stderr).toBe(0)
    const backupUrl = backup.stdout.trim().split('\n').at(-1) ?? ''
    const dryRun = await transship([
      'restore',
      backupUrl,
      '--to',
      env.TESTENV_HOST_B,
      '--dry-run',
      ...CHANGES,
    ])
    expect(dryRun.code, dryRun.stdout + dryRun.stderr).toBe(0)
    expect(dryRun.stdout).toContain('  change     environment MODE changed')
    expect(dryRun.stdout).toContain(`  volume     ${VOLUME}-b at /data: created under a new name`)
    expect(dryRun.stdout).toContain(`  network    ${NETWORK}-b: created`)

    const migrated = await transship([
      'migrate',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--no-checkpoint',
      ...CHANGES,
    ])
    expect(migrated.code, migrated.stderr).toBe(0)
    const target = hostB.getContainer(NAME)
    const after = await target.inspect()
    expect(after.State.Running).toBe(true)
    expect(after.HostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18091' }],
      '81/udp': [{ HostIp: '', HostPort: '18092' }],
    })
    expect(after.Config.Env).toEqual(
      expect.arrayContaining(['MODE=staging', 'EXTRA=added', 'KEEP=1']),
    )
    expect(after.Config.Env).not.toContain('MODE=production')
    expect(Object.keys(after.NetworkSettings.Networks)).toEqual([`${NETWORK}-b`])
    expect(after.Mounts.map((mount) => [mount.Name, mount.Destination])).toEqual([
      [`${VOLUME}-b`, '/data'],
    ])
    expect((await execIn(target, ['cat', '/data/file'])).stdout).toBe('kept\n')
    // The source keeps its own configuration.
    const source = await hostA.getContainer(NAME).inspect()
    expect(source.Config.Env).toContain('MODE=production')
    expect(source.HostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: '', HostPort: '18090' }],
    })
  })
})
