import { describe, expect, it } from 'vitest'
import { TransshipError } from '../../src/errors.js'
import {
  parseGroupManifest,
  parseManifest,
  serializeGroupManifest,
  serializeManifest,
} from '../../src/manifest/codec.js'
import type { GroupManifest, Manifest } from '../../src/manifest/schema.js'

const manifest: Manifest = {
  format: 'transship-backup',
  version: 1,
  id: 'web-20261125T101500Z-3f9a',
  createdAt: '2026-11-25T10:15:00.000Z',
  source: {
    engine: {
      url: 'unix:///run/docker.sock',
      id: 'ABCD',
      name: 'host-a',
      serverVersion: '20.10.24',
    },
    id: 'f'.repeat(64),
    name: 'web',
    image: 'redis:7',
    imageId: `sha256:${'e'.repeat(64)}`,
    running: true,
    restartPolicy: { Name: 'always', MaximumRetryCount: 0 },
    config: { Image: 'redis:7' },
    hostConfig: {},
    networks: [{ name: 'bridge', builtin: true, aliases: [] }],
  },
  volumes: [
    {
      name: 'data',
      anonymous: false,
      driver: 'local',
      labels: { tier: 'db' },
      driverOptions: {},
      destination: '/data',
      readOnly: true,
      artifact: 'volumes/0.tar',
    },
  ],
  skippedMounts: [{ type: 'bind', source: '/etc/app', destination: '/config', readOnly: true }],
  artifacts: [
    { key: 'volumes/0.tar', kind: 'volume', size: 10240, sha256: 'a'.repeat(64), encoding: 'tar' },
  ],
  warnings: [{ stage: 'inspect', message: 'bind mount at /config is not copied' }],
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    return error instanceof TransshipError ? error.code : 'not a TransshipError'
  }
  return undefined
}

describe('manifest codec', () => {
  it('reads back what it writes', () => {
    expect(parseManifest(serializeManifest(manifest), 'test')).toEqual(manifest)
  })

  it('keeps fields it does not know, written by a newer reader of the same version', () => {
    const text = JSON.stringify({ ...manifest, signature: { algorithm: 'ed25519', value: 'x' } })
    expect(parseManifest(text, 'test')).toHaveProperty('signature')
  })

  it('names each field that breaks the schema', () => {
    const broken = { ...manifest, volumes: [{ ...manifest.volumes[0], readOnly: 'yes' }] }
    expect(() => parseManifest(JSON.stringify(broken), 'file:///s/web-1')).toThrow(
      /manifest at file:\/\/\/s\/web-1 breaks the schema:[\s\S]*volumes\[0\]\.readOnly/,
    )
  })

  it('refuses an artifact key that climbs out of the backup', () => {
    const broken = {
      ...manifest,
      artifacts: [{ ...manifest.artifacts[0], key: '../../etc/passwd' }],
    }
    expect(codeOf(() => parseManifest(JSON.stringify(broken), 'test'))).toBe('MANIFEST_INVALID')
  })

  it.each([
    [
      'a network name that is an API path',
      (m: Manifest) => {
        m.source.networks[0] = { name: '../volumes/prune?', builtin: false, aliases: [] }
      },
      'source.networks[0].name',
    ],
    [
      'a volume name with a slash',
      (m: Manifest) => {
        m.volumes[0] = { ...m.volumes[0], name: 'data/../x' } as Manifest['volumes'][0]
      },
      'volumes[0].name',
    ],
    [
      'a container name with a query',
      (m: Manifest) => {
        m.source.name = 'web?force=1'
      },
      'source.name',
    ],
    [
      'an image id that is not a digest',
      (m: Manifest) => {
        m.source.imageId = 'redis:latest'
      },
      'source.imageId',
    ],
    [
      'an image tag that climbs',
      (m: Manifest) => {
        m.image = {
          id: `sha256:${'e'.repeat(64)}`,
          tags: ['../../containers/create'],
          artifact: 'image.tar',
          omittedLayers: [],
        }
      },
      'image.tags[0]',
    ],
    [
      'a mount point with ..',
      (m: Manifest) => {
        m.volumes[0] = { ...m.volumes[0], destination: '/data/../../etc' } as Manifest['volumes'][0]
      },
      'volumes[0].destination',
    ],
  ])('refuses %s, naming the field, before anything uses it', (_, edit, field) => {
    const broken = structuredClone(manifest)
    edit(broken)
    expect(() => parseManifest(JSON.stringify(broken), 'test')).toThrow(
      new RegExp(`breaks the schema:[\\s\\S]*${field.replace(/[[\].]/g, '\\$&')}`),
    )
  })

  it('refuses another version, and text that is not JSON', () => {
    expect(codeOf(() => parseManifest(JSON.stringify({ ...manifest, version: 2 }), 't'))).toBe(
      'MANIFEST_UNSUPPORTED',
    )
    expect(codeOf(() => parseManifest('{"format":', 't'))).toBe('MANIFEST_INVALID')
  })

  it('never writes an invalid manifest', () => {
    expect(codeOf(() => serializeManifest({ ...manifest, id: '' }))).toBe('MANIFEST_INVALID')
  })
})

describe('a group manifest', () => {
  const group: GroupManifest = {
    format: 'transship-group',
    version: 1,
    id: 'backup-20261203T150000Z-1a2b',
    createdAt: '2026-12-03T15:00:00.000Z',
    project: 'shop',
    members: [
      { container: 'shop_redis_1', id: 'backup-20261203T150000Z-1a2b/0' },
      { container: 'shop_app_1', id: 'backup-20261203T150000Z-1a2b/1' },
    ],
  }

  it('reads back what it writes', () => {
    expect(parseGroupManifest(serializeGroupManifest(group), 'here')).toEqual(group)
  })

  it('refuses a member whose backup lies outside the group, naming it', () => {
    const outside = {
      ...group,
      members: [group.members[0], { container: 'shop_app_1', id: 'web-20261125T101500Z-3f9a' }],
    }
    expect(() => parseGroupManifest(JSON.stringify(outside), 'here')).toThrow(
      /member 1 \(shop_app_1\) has backup id "web-20261125T101500Z-3f9a", not backup-20261203T150000Z-1a2b\/1/,
    )
  })

  it('refuses a container name Docker would not take, and an empty group', () => {
    const badName = { ...group, members: [{ container: '../x', id: `${group.id}/0` }] }
    expect(() => parseGroupManifest(JSON.stringify(badName), 'here')).toThrow(/breaks the schema/)
    expect(() => parseGroupManifest(JSON.stringify({ ...group, members: [] }), 'here')).toThrow(
      /breaks the schema/,
    )
  })
})
