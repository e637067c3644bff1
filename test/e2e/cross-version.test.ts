import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { transship } from '../support/cli.js'
import { dockerAt, execIn, TEST_LABEL } from '../support/docker.js'
import { StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

/**
 * Migrations between Docker 20.10 (A, Debian 12's) and a current engine (D, Debian 13's
 * 26.1) in both directions, cold and with a checkpoint, direct and through a staging
 * directory: an image the destination lacks (26.1 saves images in the OCI layout), a named
 * volume, the container layer, memory (a checkpoint) and the configuration, compared field
 * by field.
 */
const env = testEnv()
const ENGINES = {
  'Docker 20.10 (A)': env.TESTENV_HOST_A,
  'Docker 26.1 (D)': env.TESTENV_HOST_D,
}
const run = randomBytes(3).toString('hex')
const staging = new StagingDirs('transship-cross-version')
const made: { url: string; name: string; image: string; volume: string }[] = []

/**
 * Keeps a random number drawn at its start in memory and writes it to a file every 200 ms:
 * after a restore from a checkpoint the file keeps the number; a restarted process draws
 * another one.
 */
const MEMORY_COMMAND = [
  'sh',
  '-c',
  'trap "exit 0" TERM; n=$(cat /proc/sys/kernel/random/uuid); ' +
    'while :; do echo "$n" > /tmp/memory; sleep 0.2 & wait $!; done',
]

/**
 * Configuration fields one of the two versions reports and the other does not know: they
 * are compared where both report them.
 */
const VERSION_ONLY_FIELDS = new Set([
  // 26.1 only (API 1.42 to 1.45)
  'Annotations',
  'ConsoleSize',
  'CgroupnsMode',
  // 20.10 only: deprecated, gone from 26.1's inspect
  'KernelMemory',
  'KernelMemoryTCP',
  'CpuCount',
  'CpuPercent',
  'IOMaximumIOps',
  'IOMaximumBandwidth',
  'Capabilities',
  'MacAddress',
])

/**
 * A container's configuration, without what belongs to the host or the instance. The
 * default network is `default` to 20.10 and `bridge` to 26.1: the same network.
 */
function configOf(inspect: Docker.ContainerInspectInfo): Record<string, unknown> {
  const { Mounts, ...hostConfig } = inspect.HostConfig as Docker.HostConfig & { Mounts?: unknown }
  const networkMode = hostConfig.NetworkMode === 'default' ? 'bridge' : hostConfig.NetworkMode
  return {
    Config: inspect.Config,
    HostConfig: { ...hostConfig, NetworkMode: networkMode },
    Name: inspect.Name,
  }
}

/** The fields of `a` and `b` that differ, as `Config.Env: […] → […]`; version-only ones skipped. */
function differences(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const found: string[] = []
  for (const part of ['Config', 'HostConfig'] as const) {
    const left = before[part] as Record<string, unknown>
    const right = after[part] as Record<string, unknown>
    for (const field of new Set([...Object.keys(left), ...Object.keys(right)])) {
      if (VERSION_ONLY_FIELDS.has(field) && (!(field in left) || !(field in right))) continue
      const [was, is] = [JSON.stringify(left[field]), JSON.stringify(right[field])]
      if (was !== is) found.push(`${part}.${field}: ${was} → ${is}`)
    }
  }
  if (before.Name !== after.Name) found.push(`Name: ${before.Name} → ${after.Name}`)
  return found
}

/** A container on `url` of an image made there only, with a volume and a changed layer. */
async function sourceContainer(url: string, tag: string) {
  const docker = dockerAt(url)
  const name = `transship-xv-${tag}-${run}`
  const image = `transship-test/cross-version-${tag}:${run}`
  const volume = `transship-xv-${tag}-${run}`
  made.push({ url, name, image, volume })
  const base = await docker.createContainer({
    Image: env.TESTENV_IMAGE_BUSYBOX,
    Cmd: ['sh', '-c', `mkdir -p /opt/app && echo ${run} > /opt/app/release`],
    Labels: TEST_LABEL,
  })
  await base.start()
  await base.wait()
  const [repo, version] = image.split(':')
  await base.commit({ repo, tag: version, changes: ['LABEL transship.test=true'] })
  await base.remove()
  const container = await docker.createContainer({
    name,
    Image: image,
    Cmd: MEMORY_COMMAND,
    Env: ['MODE=production'],
    WorkingDir: '/opt/app',
    Labels: { ...TEST_LABEL, role: 'cross-version' },
    HostConfig: {
      Mounts: [{ Type: 'volume', Source: volume, Target: '/data' }],
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 },
      Memory: 64 * 1024 * 1024,
      PortBindings: { '8080/tcp': [{ HostPort: '18089' }] },
    },
    ExposedPorts: { '8080/tcp': {} },
  })
  await container.start()
  const changed = await execIn(container, [
    'sh',
    '-c',
    'echo kept > /data/volume-file && echo added > /opt/app/added && rm /opt/app/release && sleep 0.5',
  ])
  expect(changed.exitCode, changed.stderr).toBe(0)
  return { name, image, inspect: await container.inspect(), container }
}

async function memoryOf(container: Docker.Container): Promise<string> {
  return (await execIn(container, ['cat', '/tmp/memory'])).stdout.trim()
}

afterEach(async () => {
  for (const { name, image, volume } of made.splice(0)) {
    for (const url of Object.values(ENGINES)) {
      const docker = dockerAt(url)
      await docker
        .getContainer(name)
        .remove({ force: true })
        .catch(() => {})
      await docker
        .getVolume(volume)
        .remove()
        .catch(() => {})
      await docker
        .getImage(image)
        .remove({ force: true })
        .catch(() => {})
    }
  }
})

afterAll(() => staging.removeAll())

describe('between Docker 20.10 and Docker 26.1', () => {
  const cases = [
    ['Docker 20.10 (A)', 'Docker 26.1 (D)', 'checkpoint', 'direct'],
    ['Docker 26.1 (D)', 'Docker 20.10 (A)', 'checkpoint', 'staged'],
    ['Docker 20.10 (A)', 'Docker 26.1 (D)', 'cold', 'staged'],
    ['Docker 26.1 (D)', 'Docker 20.10 (A)', 'cold', 'direct'],
  ] as const
  it.each(cases)('%s → %s, %s, %s', async (from, to, mode, route) => {
    const [fromUrl, toUrl] = [ENGINES[from], ENGINES[to]]
    const tag = `${mode}-${route}`
    const source = await sourceContainer(fromUrl, tag)
    const destination = dockerAt(toUrl)
    await expect(destination.getImage(source.image).inspect()).rejects.toThrow()
    const memory = await memoryOf(source.container)
    expect(memory).toMatch(/^[0-9a-f-]{36}$/)

    const result = await transship([
      'migrate',
      source.name,
      '--from',
      fromUrl,
      '--to',
      toUrl,
      ...(mode === 'cold' ? ['--no-checkpoint'] : []),
      ...(route === 'staged' ? ['--via', (await staging.make()).url] : []),
    ])
    expect(result.code, result.stderr).toBe(0)

    const target = destination.getContainer(source.name)
    const after = await target.inspect()
    expect(after.State.Running).toBe(true)
    // the image: the same ID, tagged as at the source
    expect(after.Image).toBe(source.inspect.Image)
    expect((await destination.getImage(source.image).inspect()).Id).toBe(source.inspect.Image)
    // the layer and the volume
    expect((await execIn(target, ['ls', '/opt/app'])).stdout).toBe('added\n')
    expect((await execIn(target, ['cat', '/data/volume-file'])).stdout).toBe('kept\n')
    // memory: the same number after a checkpoint, a new one after a cold start
    if (mode === 'checkpoint') expect(await memoryOf(target)).toBe(memory)
    else expect(await memoryOf(target)).not.toBe(memory)
    // the configuration, field by field
    expect(differences(configOf(source.inspect), configOf(after))).toEqual([])
    expect(after.Mounts.map((m) => [m.Type, m.Name, m.Destination, m.RW])).toEqual([
      ['volume', source.inspect.Mounts[0]?.Name, '/data', true],
    ])
  })
})
