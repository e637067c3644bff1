import { describe, expect, it } from 'vitest'
import type { SourceContainer } from '../../src/manifest/schema.js'
import { targetConfig } from '../../src/stages/targetConfig.js'

const source: SourceContainer = {
  engine: { url: 'unix:///a.sock', id: 'A', name: 'a', serverVersion: '20.10.24' },
  id: 'f'.repeat(64),
  name: 'web',
  image: 'app:1',
  imageId: `sha256:${'e'.repeat(64)}`,
  running: true,
  restartPolicy: { Name: 'always', MaximumRetryCount: 0 },
  config: { Image: 'app:1', Env: ['A=1'], User: '1000', Hostname: 'web1' },
  hostConfig: {
    RestartPolicy: { Name: 'no' },
    Binds: ['data:/data', '/etc/app:/config:ro'],
    Memory: 67108864,
    CapAdd: ['NET_ADMIN'],
    Links: ['/db:/web/db'],
    VolumesFrom: ['sidecar'],
    IpcMode: 'container:sidecar',
    Tmpfs: { '/run/t': 'size=1m' },
  },
  networks: [
    { name: 'appnet', builtin: false, aliases: ['api'], ipv4Address: '172.30.5.9' },
    { name: 'bridge', builtin: true, aliases: [] },
  ],
}

describe('targetConfig', () => {
  const config = targetConfig({
    source,
    name: 'web',
    image: 'app:1',
    volumes: [
      {
        name: 'data',
        anonymous: false,
        driver: 'local',
        labels: {},
        driverOptions: {},
        destination: '/data',
        readOnly: false,
        artifact: 'volumes/0.tar',
      },
    ],
    restoredVolumes: { data: 'data-3f9a2c' },
    skippedMounts: [{ type: 'bind', source: '/etc/app', destination: '/config', readOnly: true }],
  })

  it("keeps the source's configuration and its original restart policy", () => {
    expect(config.create).toMatchObject({
      name: 'web',
      Image: 'app:1',
      Env: ['A=1'],
      User: '1000',
      Hostname: 'web1',
      HostConfig: {
        Memory: 67108864,
        CapAdd: ['NET_ADMIN'],
        Tmpfs: { '/run/t': 'size=1m' },
        RestartPolicy: { Name: 'always', MaximumRetryCount: 0 },
      },
    })
  })

  it('mounts the restored volumes and the bind mounts, instead of the source binds', () => {
    expect(config.create.HostConfig?.Binds).toBeUndefined()
    expect(config.create.HostConfig?.Mounts).toEqual([
      {
        Type: 'volume',
        Source: 'data-3f9a2c',
        Target: '/data',
        ReadOnly: false,
        VolumeOptions: { NoCopy: true },
      },
      { Type: 'bind', Source: '/etc/app', Target: '/config', ReadOnly: true },
    ])
  })

  it('attaches the first network at create and the others after, with aliases and addresses', () => {
    expect(config.create.NetworkingConfig?.EndpointsConfig).toEqual({
      appnet: { Aliases: ['api'], IPAMConfig: { IPv4Address: '172.30.5.9' } },
    })
    expect(config.moreNetworks.map((n) => n.name)).toEqual(['bridge'])
  })

  it('leaves out, with a warning, what refers to other containers', () => {
    expect(config.create.HostConfig).not.toHaveProperty('Links')
    expect(config.create.HostConfig).not.toHaveProperty('VolumesFrom')
    expect(config.create.HostConfig).not.toHaveProperty('IpcMode')
    expect(config.warnings).toHaveLength(3)
    expect(config.warnings.join('\n')).toMatch(
      /volumes-from[\s\S]*links[\s\S]*IpcMode container:sidecar/,
    )
  })

  it("in a group, points links, container: namespaces and --volumes-from at the peers' targets", () => {
    const grouped = targetConfig({
      source: {
        ...source,
        hostConfig: {
          ...source.hostConfig,
          Links: ['/db:/web/db', '/cache:/web/cache'],
          VolumesFrom: ['sidecar:ro'],
          IpcMode: `container:${'a'.repeat(12)}`,
          NetworkMode: 'container:sidecar',
        },
      },
      name: 'web',
      image: 'app:1',
      volumes: [],
      restoredVolumes: {},
      skippedMounts: [],
      peers: { db: 'db-b', [`${'a'.repeat(64)}`]: 'sidecar-b', sidecar: 'sidecar-b' },
    })
    expect(grouped.create.HostConfig).toMatchObject({
      Links: ['db-b:db'],
      IpcMode: 'container:sidecar-b',
      NetworkMode: 'container:sidecar-b',
    })
    expect(grouped.create.HostConfig).not.toHaveProperty('VolumesFrom')
    // Only the link to a container outside the group is left out.
    expect(grouped.warnings).toEqual([
      'legacy links (/cache:/web/cache) are not carried: use a user-defined network',
    ])
  })
})
