import { describe, expect, it } from 'vitest'
import type { SourceContainer, VolumeRecord } from '../../src/manifest/schema.js'
import { hostGrantsOf } from '../../src/stages/hostGrants.js'

const source = (hostConfig: Record<string, unknown>): SourceContainer => ({
  engine: { url: 'unix:///a.sock', id: 'A', name: 'a', serverVersion: '20.10.24' },
  id: 'f'.repeat(64),
  name: 'web',
  image: 'redis:7',
  imageId: `sha256:${'e'.repeat(64)}`,
  running: true,
  restartPolicy: { Name: 'no' },
  config: {},
  hostConfig,
  networks: [],
})
const volume = (driverOptions: Record<string, string>): VolumeRecord => ({
  name: 'data',
  anonymous: false,
  driver: 'local',
  labels: {},
  driverOptions,
  destination: '/data',
  readOnly: false,
  artifact: 'volumes/0.tar',
})
const none = { volumes: [], skippedMounts: [], plans: [] }

describe('hostGrantsOf', () => {
  it('finds none in what a plain docker run gives (defaults, ports, no-new-privileges, capabilities dropped)', () => {
    const plain = source({
      NetworkMode: 'default',
      IpcMode: 'private',
      PidMode: '',
      CapAdd: null,
      CapDrop: ['NET_RAW'],
      SecurityOpt: ['no-new-privileges'],
      Runtime: 'runc',
      PortBindings: { '80/tcp': [{ HostPort: '8080' }] },
      Devices: [],
      Sysctls: {},
    })
    expect(hostGrantsOf({ source: plain, ...none })).toEqual([])
  })

  it('names each grant of the configuration', () => {
    const grants = hostGrantsOf({
      source: source({
        Privileged: true,
        CapAdd: ['SYS_ADMIN', 'NET_ADMIN'],
        PidMode: 'host',
        NetworkMode: 'host',
        UsernsMode: 'host',
        Devices: [{ PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda' }],
        SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined', 'label=disable'],
        Runtime: 'nvidia',
        Sysctls: { 'net.ipv4.ip_forward': '1' },
        CgroupParent: '/system.slice',
      }),
      ...none,
    })
    expect(grants).toEqual([
      'privileged mode',
      'added capability SYS_ADMIN',
      'added capability NET_ADMIN',
      "the host's PID namespace (PidMode host)",
      "the host's network namespace (NetworkMode host)",
      "the host's user namespace (UsernsMode host)",
      'host device /dev/sda at /dev/xvda',
      'security option seccomp=unconfined',
      'security option apparmor=unconfined',
      'security option label=disable',
      'runtime nvidia',
      'sysctl net.ipv4.ip_forward=1',
      'cgroup parent /system.slice',
    ])
  })

  it('names host paths: bind mounts, volumes on a host device or directory, an existing volume reused', () => {
    const bound = volume({ type: 'none', o: 'bind', device: '/etc/cron.d' })
    const grants = hostGrantsOf({
      source: source({}),
      volumes: [bound],
      skippedMounts: [
        { type: 'bind', source: '/', destination: '/h', readOnly: false },
        { type: 'tmpfs', destination: '/run', readOnly: false },
      ],
      plans: [{ action: 'reuse', volume: { ...bound, name: 'prod-db' }, name: 'prod-db' }],
    })
    expect(grants).toEqual([
      'bind mount of host path / at /h (read-write)',
      'volume data on host device or directory /etc/cron.d (type=none,o=bind,device=/etc/cron.d)',
      'existing volume prod-db of the destination, mounted at /data',
    ])
  })
})
