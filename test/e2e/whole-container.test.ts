import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { transship } from '../support/cli.js'
import { dockerAt, execIn, TEST_LABEL } from '../support/docker.js'
import { StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

/**
 * Issue 4's whole container: a layer change of every kind, a custom configuration, a user
 * network and an image that B lacks, migrated A → B with the CLI, then compared.
 */
const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const run = randomBytes(3).toString('hex')
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'whole-container' }
const IMAGE = `transship-test/whole:${run}`
const NETWORK = `transship-whole-${run}`
const VOLUME = `transship-whole-${run}`
const NAME = `transship-whole-${run}`
const staging = new StagingDirs('transship-whole')

/** The image's tree, which the container then changes in every way issue 4 lists. */
const IMAGE_TREE = [
  'mkdir -p /opt/keep /opt/gone/sub /opt/recreated /opt/dirtofile /opt/modes',
  'echo a > /opt/keep/a',
  'echo original > /opt/change',
  'echo doomed > /opt/delete',
  'echo file > /opt/filetodir',
  'echo g > /opt/gone/sub/g',
  'echo old1 > /opt/recreated/old1',
  'echo old2 > /opt/recreated/old2',
  'echo d > /opt/dirtofile/d',
  'chmod 755 /opt/modes',
].join(' && ')

const LAYER_CHANGES = [
  'echo added > /opt/keep/added',
  'echo changed > /opt/change',
  'rm /opt/delete',
  'rm /opt/filetodir && mkdir /opt/filetodir && echo inside > /opt/filetodir/x',
  'rm -r /opt/gone',
  'rm -r /opt/dirtofile && echo now-a-file > /opt/dirtofile',
  'rm -r /opt/recreated && mkdir /opt/recreated && echo fresh > /opt/recreated/new',
  'chmod 700 /opt/modes && chown 1000:1000 /opt/modes',
  'ln -s /opt/keep/a /opt/symlink && ln /opt/keep/added /opt/hardlink',
  'head -c 1073741824 /dev/zero > /opt/big',
].join(' && ')

/** Fields of inspect that belong to the host or the instance, not to the configuration. */
function configOf(inspect: Docker.ContainerInspectInfo) {
  const { Mounts, ...hostConfig } = inspect.HostConfig as Docker.HostConfig & { Mounts?: unknown }
  return { Config: inspect.Config, HostConfig: hostConfig, Name: inspect.Name }
}

describe('a whole container: layer, configuration, network and image (issue 4)', () => {
  let source: Docker.Container
  let before: Docker.ContainerInspectInfo
  let diffBefore: unknown

  beforeAll(async () => {
    await buildImageWithTree()
    await hostA.createNetwork({
      Name: NETWORK,
      Labels: LABELS,
      IPAM: { Config: [{ Subnet: '172.31.77.0/24' }] },
    })
    source = await hostA.createContainer({
      name: NAME,
      Image: IMAGE,
      Entrypoint: ['sh', '-c'],
      Cmd: ['trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
      Env: ['MODE=production', 'EMPTY='],
      WorkingDir: '/opt',
      User: '0:0',
      Labels: { ...LABELS, role: 'db' },
      Hostname: 'whole-host',
      ExposedPorts: { '8080/tcp': {} },
      Healthcheck: { Test: ['CMD', 'true'], Interval: 5_000_000_000, Retries: 2 },
      StopSignal: 'SIGUSR1',
      StopTimeout: 4,
      OpenStdin: true,
      HostConfig: {
        PortBindings: { '8080/tcp': [{ HostPort: '18080' }] },
        ExtraHosts: ['extra.example:10.0.0.7'],
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 },
        Memory: 128 * 1024 * 1024,
        CpuShares: 512,
        PidsLimit: 100,
        CapAdd: ['NET_ADMIN'],
        CapDrop: ['MKNOD'],
        SecurityOpt: ['no-new-privileges'],
        Tmpfs: { '/run/scratch': 'size=1m' },
        NetworkMode: NETWORK,
        Mounts: [{ Type: 'volume', Source: VOLUME, Target: '/data' }],
      },
      NetworkingConfig: {
        EndpointsConfig: {
          [NETWORK]: { Aliases: ['db'], IPAMConfig: { IPv4Address: '172.31.77.9' } },
        },
      },
    })
    await source.start()
    const changed = await execIn(source, ['sh', '-c', LAYER_CHANGES])
    expect(changed.exitCode, changed.stderr).toBe(0)
    before = await source.inspect()
    diffBefore = sortDiff(await source.changes())
  })

  async function buildImageWithTree() {
    // A derived image made on A only: B lacks it, but holds its base.
    const base = await hostA.createContainer({
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['sh', '-c', IMAGE_TREE],
      Labels: LABELS,
    })
    await base.start()
    await base.wait()
    const [repo, tag] = IMAGE.split(':')
    await base.commit({ repo, tag, changes: ['LABEL transship.test=true'] })
    await base.remove()
  }

  afterAll(async () => {
    for (const docker of [hostA, hostB]) {
      await docker
        .getContainer(NAME)
        .remove({ force: true, v: true })
        .catch(() => {})
      await docker
        .getVolume(VOLUME)
        .remove()
        .catch(() => {})
      await docker
        .getNetwork(NETWORK)
        .remove()
        .catch(() => {})
      await docker
        .getImage(IMAGE)
        .remove({ force: true })
        .catch(() => {})
    }
    await staging.removeAll()
  })

  it('arrives whole on B and the source is untouched', async () => {
    const { url } = await staging.make()
    const result = await transship([
      'migrate',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--via',
      url,
      '--no-checkpoint',
    ])
    expect(result.code, result.stderr).toBe(0)
    const target = hostB.getContainer(NAME)
    const after = await target.inspect()

    // image: the same ID on B, tagged as at the source
    expect(after.Image).toBe(before.Image)
    expect((await hostB.getImage(IMAGE).inspect()).Id).toBe(before.Image)
    // layer: docker diff equal
    expect(sortDiff(await target.changes())).toEqual(diffBefore)
    expect((await execIn(target, ['ls', '/opt/recreated'])).stdout).toBe('new\n')
    expect((await execIn(target, ['stat', '-c', '%a %u:%g', '/opt/modes'])).stdout).toBe(
      '700 1000:1000\n',
    )
    expect((await execIn(target, ['stat', '-c', '%s', '/opt/big'])).stdout).toBe('1073741824\n')
    // configuration: equal field by field, restart policy included
    expect(after.State.Running).toBe(true)
    expect(configOf(after)).toEqual(configOf(before))
    expect(after.Mounts.map((m) => [m.Destination, m.RW])).toEqual([['/data', true]])
    expect(after.NetworkSettings.Networks[NETWORK]?.Aliases).toEqual(expect.arrayContaining(['db']))
    expect(after.NetworkSettings.Networks[NETWORK]?.IPAddress).toBe('172.31.77.9')
    // the source: stopped, restart policy no, otherwise untouched
    const sourceAfter = await source.inspect()
    expect(sourceAfter.State.Running).toBe(false)
    expect(sourceAfter.HostConfig.RestartPolicy).toEqual({ Name: 'no', MaximumRetryCount: 0 })
    expect(sortDiff(await source.changes())).toEqual(diffBefore)
    expect({
      ...configOf(sourceAfter),
      HostConfig: { ...configOf(sourceAfter).HostConfig, RestartPolicy: null },
    }).toEqual({
      ...configOf(before),
      HostConfig: { ...configOf(before).HostConfig, RestartPolicy: null },
    })
  })
})

function sortDiff(changes: { Path: string; Kind: number }[] | null) {
  return (changes ?? []).map((c) => `${c.Kind} ${c.Path}`).sort()
}
