import { describe, expect, it } from 'vitest'
import type { SourceContainer, VolumeRecord } from '../../src/manifest/schema.js'
import {
  changedSource,
  describeChanges,
  parseAssignment,
  parsePublish,
  volumeNameChanges,
} from '../../src/stages/targetChanges.js'

const source: SourceContainer = {
  engine: { url: 'unix:///a.sock', id: 'A', name: 'a', serverVersion: '20.10.24' },
  id: 'f'.repeat(64),
  name: 'web',
  image: 'app:1',
  imageId: `sha256:${'e'.repeat(64)}`,
  running: true,
  restartPolicy: { Name: 'no' },
  config: { Env: ['MODE=production', 'PATH=/bin'], ExposedPorts: { '6379/tcp': {} } },
  hostConfig: {
    NetworkMode: 'front',
    PortBindings: { '6379/tcp': [{ HostIp: '', HostPort: '6379' }] },
  },
  networks: [
    { name: 'front', builtin: false, driver: 'bridge', aliases: ['web'], ipv4Address: '10.1.0.5' },
    { name: 'bridge', builtin: true, aliases: [] },
  ],
}

const volumes: VolumeRecord[] = [
  {
    name: 'data',
    anonymous: false,
    destination: '/data',
    readOnly: false,
    driver: 'local',
    labels: {},
    options: {},
  } as unknown as VolumeRecord,
  {
    name: 'a'.repeat(64),
    anonymous: true,
    destination: '/cache',
    readOnly: false,
    driver: 'local',
    labels: {},
    options: {},
  } as unknown as VolumeRecord,
]

describe('parsePublish', () => {
  it.each([
    ['80', { containerPort: '80/tcp', hostIp: '', hostPort: '' }],
    ['8080:80', { containerPort: '80/tcp', hostIp: '', hostPort: '8080' }],
    ['127.0.0.1:8080:80/udp', { containerPort: '80/udp', hostIp: '127.0.0.1', hostPort: '8080' }],
    ['127.0.0.1::80', { containerPort: '80/tcp', hostIp: '127.0.0.1', hostPort: '' }],
    ['[::1]:8443:443', { containerPort: '443/tcp', hostIp: '::1', hostPort: '8443' }],
  ])('reads %s as docker run -p does', (spec, binding) => {
    expect(parsePublish(spec)).toEqual(binding)
  })

  it.each(['', 'http', '80:', '70000:80', '8080:0', '80/icmp', '1-10:1-10'])(
    'refuses %j, naming --publish and the grammar',
    (spec) => {
      expect(() => parsePublish(spec)).toThrow(
        expect.objectContaining({
          code: 'INVALID_OPTION',
          message: expect.stringMatching(/--publish .*\[ip:\]\[hostPort:\]containerPort/),
        }),
      )
    },
  )
})

describe('parseAssignment', () => {
  it('splits at the first =', () => {
    expect(parseAssignment('--env', 'URL=a=b')).toEqual(['URL', 'a=b'])
    expect(parseAssignment('--env', 'EMPTY=')).toEqual(['EMPTY', ''])
  })

  it('refuses a value without a key, naming the flag', () => {
    expect(() => parseAssignment('--network', 'front')).toThrow('--network front: expected OLD=NEW')
    expect(() => parseAssignment('--env', '=x')).toThrow('--env =x: expected KEY=VALUE')
  })
})

describe('changedSource', () => {
  it('is the source itself without changes', () => {
    expect(changedSource(source, undefined)).toBe(source)
  })

  it('sets variables over the source’s, replaces the port bindings, renames networks', () => {
    const target = changedSource(source, {
      env: { MODE: 'staging', EXTRA: '1' },
      publish: ['127.0.0.1:16379:6379', '9000:9000/udp'],
      networks: { front: 'front-b', bridge: 'plain' },
    })
    expect(target.config.Env).toEqual(['PATH=/bin', 'MODE=staging', 'EXTRA=1'])
    expect(target.hostConfig.PortBindings).toEqual({
      '6379/tcp': [{ HostIp: '127.0.0.1', HostPort: '16379' }],
      '9000/udp': [{ HostIp: '', HostPort: '9000' }],
    })
    expect(target.config.ExposedPorts).toEqual({ '6379/tcp': {}, '9000/udp': {} })
    expect(target.hostConfig.NetworkMode).toBe('front-b')
    expect(target.networks).toEqual([
      { ...source.networks[0], name: 'front-b' },
      { name: 'plain', builtin: false, driver: 'bridge', aliases: [] },
    ])
    // The source's record is left as it was.
    expect(source.config.Env).toEqual(['MODE=production', 'PATH=/bin'])
    expect(source.networks[0]?.name).toBe('front')
  })

  it('publishes nothing with an empty list', () => {
    expect(changedSource(source, { publish: [] }).hostConfig.PortBindings).toEqual({})
  })

  it('refuses a network the container is not on, and a name the engine would refuse', () => {
    expect(() => changedSource(source, { networks: { back: 'x' } })).toThrow(
      '--network back=x: web is not attached to a network back (its networks: front, bridge)',
    )
    expect(() => changedSource(source, { networks: { front: '../x' } })).toThrow(
      '--network front=../x: ../x is not a network name',
    )
    expect(() => changedSource(source, { env: { 'BAD KEY': '1' } })).toThrow(
      '--env BAD KEY: not an environment variable name',
    )
  })
})

describe('volumeNameChanges', () => {
  it('finds a volume by name or by mount path, anonymous ones too', () => {
    expect(
      volumeNameChanges(volumes, { volumeNames: { data: 'data-b', '/cache': 'cache-b' } }),
    ).toEqual({ data: 'data-b', ['a'.repeat(64)]: 'cache-b' })
  })

  it('refuses a volume not carried and a name the engine would refuse', () => {
    expect(() => volumeNameChanges(volumes, { volumeNames: { logs: 'x1' } })).toThrow(
      `--volume-name logs=x1: no volume carried is named or mounted at logs (the volumes: data at /data, ${'a'.repeat(64)} at /cache)`,
    )
    expect(() => volumeNameChanges(volumes, { volumeNames: { data: 'a/b' } })).toThrow(
      '--volume-name data=a/b: a/b is not a volume name',
    )
  })
})

describe('describeChanges', () => {
  it('says what the target changes, one line each', () => {
    expect(
      describeChanges(source, volumes, {
        publish: ['127.0.0.1:16379:6379'],
        env: { MODE: 'staging', EXTRA: '1' },
        networks: { front: 'front-b' },
        volumeNames: { '/data': 'data-b' },
      }),
    ).toEqual([
      "ports published instead of the source's: 6379/tcp on 127.0.0.1:16379",
      'environment MODE changed',
      'environment EXTRA added',
      'network front joined as front-b',
      'volume data (at /data) made as data-b',
    ])
    expect(describeChanges(source, volumes, undefined)).toEqual([])
  })
})
