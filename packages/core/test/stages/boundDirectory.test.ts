import { describe, expect, it } from 'vitest'
import { boundDirectoryOf } from '../../src/stages/restoreVolumes.js'

describe('boundDirectoryOf', () => {
  it('finds the directory of a local bind volume, whatever else its mount options hold', () => {
    expect(boundDirectoryOf('local', { type: 'none', o: 'bind', device: '/srv/a' })).toBe('/srv/a')
    expect(boundDirectoryOf('local', { type: 'none', o: 'ro, rbind', device: '/srv/b' })).toBe(
      '/srv/b',
    )
  })

  it('finds none for a plain volume, a device that is not bound (tmpfs, nfs), or another driver', () => {
    expect(boundDirectoryOf('local', undefined)).toBeUndefined()
    expect(
      boundDirectoryOf('local', { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }),
    ).toBeUndefined()
    expect(
      boundDirectoryOf('local', { type: 'nfs', o: 'addr=10.0.0.1,rw', device: ':/export' }),
    ).toBeUndefined()
    expect(boundDirectoryOf('other', { o: 'bind', device: '/srv/a' })).toBeUndefined()
  })
})
