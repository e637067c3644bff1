import type Dockerode from 'dockerode'
import { describe, expect, it } from 'vitest'
import { TransshipError } from '../../src/errors.js'
import { dependencyOrder, type GroupMember, memberOf } from '../../src/group/memberOrder.js'

/** A member named `name`, with an id made of `hex` (one character, repeated). */
function member(
  name: string,
  hex: string,
  options: { labels?: Record<string, string>; hostConfig?: GroupMember['hostConfig'] } = {},
): GroupMember {
  return {
    id: hex.repeat(64),
    name,
    labels: options.labels ?? {},
    hostConfig: options.hostConfig ?? {},
  }
}

/** A member of compose project `shop`, service `name`. */
function service(name: string, hex: string, dependsOn?: string): GroupMember {
  const labels: Record<string, string> = {
    'com.docker.compose.project': 'shop',
    'com.docker.compose.service': name,
  }
  if (dependsOn !== undefined) labels['com.docker.compose.depends_on'] = dependsOn
  return member(`shop-${name}-1`, hex, { labels })
}

const names = (members: readonly GroupMember[]) => members.map((m) => m.name)

describe('memberOf', () => {
  it('takes the name without its slash, the labels and the host configuration', () => {
    const inspect = {
      Id: 'a'.repeat(64),
      Name: '/web',
      Config: { Labels: { tier: 'front' } },
      HostConfig: { NetworkMode: 'container:db', VolumesFrom: ['data:ro'], Links: null, Memory: 0 },
    } as unknown as Dockerode.ContainerInspectInfo
    expect(memberOf(inspect)).toEqual({
      id: 'a'.repeat(64),
      name: 'web',
      labels: { tier: 'front' },
      hostConfig: { NetworkMode: 'container:db', VolumesFrom: ['data:ro'], Links: null },
    })
  })
})

describe('dependencyOrder', () => {
  it('puts the services of compose v2 depends_on labels first, whatever their conditions', () => {
    const web = service('web', 'a', 'redis:service_started:false,db:service_healthy:true')
    const redis = service('redis', 'b', '')
    const db = service('db', 'c', '')
    expect(names(dependencyOrder([web, redis, db]).order)).toEqual([
      'shop-redis-1',
      'shop-db-1',
      'shop-web-1',
    ])
  })

  it('reads the older v2 form, service names alone', () => {
    const web = service('web', 'a', 'redis,db')
    const { order, outside } = dependencyOrder([web, service('db', 'c'), service('redis', 'b')])
    expect(names(order)).toEqual(['shop-db-1', 'shop-redis-1', 'shop-web-1'])
    expect(outside).toEqual([])
  })

  it('takes every replica of a service, and only of the same project', () => {
    const web = service('web', 'a', 'redis:service_started:false')
    const other = member('other-redis-1', 'd', {
      labels: { 'com.docker.compose.project': 'other', 'com.docker.compose.service': 'redis' },
    })
    const redis1 = service('redis', 'b')
    const redis2 = { ...service('redis', 'c'), name: 'shop-redis-2' }
    expect(names(dependencyOrder([web, other, redis1, redis2]).order)).toEqual([
      'other-redis-1',
      'shop-redis-1',
      'shop-redis-2',
      'shop-web-1',
    ])
  })

  it.each([
    ['NetworkMode', { NetworkMode: 'container:db' }],
    ['IpcMode', { IpcMode: 'container:db' }],
    ['PidMode', { PidMode: 'container:db' }],
    ['VolumesFrom', { VolumesFrom: ['db:ro'] }],
    ['Links', { Links: ['/db:/app/db'] }],
  ])('without the label, follows %s', (_field, hostConfig) => {
    const app = member('app', 'a', { hostConfig })
    const db = member('db', 'b')
    expect(names(dependencyOrder([app, db]).order)).toEqual(['db', 'app'])
  })

  it('resolves full ids and id prefixes of 12 characters or more, as compose v1 writes them', () => {
    const db = member('db', 'b')
    const cache = member('cache', 'c')
    const app = member('app', 'a', {
      hostConfig: {
        NetworkMode: `container:${'b'.repeat(12)}`,
        VolumesFrom: [`${'c'.repeat(64)}:rw`],
      },
    })
    expect(names(dependencyOrder([app, db, cache]).order)).toEqual(['db', 'cache', 'app'])
  })

  it('does not take a prefix shorter than 12 characters as naming a member', () => {
    const app = member('app', 'a', { hostConfig: { NetworkMode: `container:${'b'.repeat(11)}` } })
    const { order, outside } = dependencyOrder([app, member('db', 'b')])
    expect(names(order)).toEqual(['app', 'db'])
    expect(outside).toEqual([`app needs container ${'b'.repeat(11)} (NetworkMode)`])
  })

  it('reports what members need outside the group', () => {
    const web = service('web', 'a', 'redis:service_started:false')
    const app = member('app', 'b', {
      hostConfig: { VolumesFrom: ['data:ro'], Links: ['/mail:/app/mail'], PidMode: 'host' },
    })
    const { order, outside } = dependencyOrder([web, app])
    expect(names(order)).toEqual(['shop-web-1', 'app'])
    expect(outside).toEqual([
      'shop-web-1 needs service redis (label com.docker.compose.depends_on)',
      'app needs container data (VolumesFrom)',
      'app needs container mail (Links)',
    ])
  })

  it('keeps the input order of members whose dependencies are met', () => {
    const a = member('a', 'a', { hostConfig: { Links: ['/c:/a/c'] } })
    const b = member('b', 'b')
    const c = member('c', 'c')
    const d = member('d', 'd')
    expect(names(dependencyOrder([a, b, c, d]).order)).toEqual(['b', 'c', 'a', 'd'])
    expect(names(dependencyOrder([d, c, b]).order)).toEqual(['d', 'c', 'b'])
  })

  it('finds no order where members depend on each other, and names them', () => {
    const a = member('a', 'a', { hostConfig: { NetworkMode: 'container:b' } })
    const b = member('b', 'b', { hostConfig: { VolumesFrom: ['a'] } })
    const c = member('c', 'c', { hostConfig: { Links: ['/a:/c/a'] } })
    const order = () => dependencyOrder([c, a, b])
    expect(order).toThrow(TransshipError)
    expect(order).toThrow(
      'containers a, b depend on each other (a → b → a): a needs container b (NetworkMode), b needs container a (VolumesFrom)',
    )
    try {
      order()
    } catch (error) {
      expect((error as TransshipError).code).toBe('GROUP_CYCLE')
    }
  })

  it('takes the same dependency twice, and one on itself, as harmless', () => {
    const db = service('db', 'b', '')
    const web = {
      ...service('web', 'a', 'db:service_started:false,db'),
      hostConfig: {
        NetworkMode: `container:${'b'.repeat(64)}`,
        IpcMode: 'container:shop-web-1',
        Links: ['/shop-db-1:/shop-web-1/db', '/shop-db-1:/shop-web-1/database'],
      },
    }
    const { order, outside } = dependencyOrder([web, db])
    expect(names(order)).toEqual(['shop-db-1', 'shop-web-1'])
    expect(outside).toEqual([])
  })

  it('reports an outside dependency named twice once', () => {
    const app = member('app', 'a', { hostConfig: { VolumesFrom: ['data:ro', 'data:rw'] } })
    expect(dependencyOrder([app]).outside).toEqual(['app needs container data (VolumesFrom)'])
  })
})
