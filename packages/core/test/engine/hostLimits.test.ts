import { describe, expect, it } from 'vitest'
import { restoreDefectOf } from '../../src/engine/hostLimits.js'

describe('restoreDefectOf', () => {
  it('knows Docker 28.5’s restore defect, outside the host network only', () => {
    const defect = restoreDefectOf('28.5.2')
    expect(defect?.versions).toBe('28.5')
    expect(defect?.explanation).toContain('moby#50750')
    expect(defect?.affects('default')).toBe(true)
    expect(defect?.affects('bridge')).toBe(true)
    expect(defect?.affects('my-network')).toBe(true)
    expect(defect?.affects('host')).toBe(false)
    expect(restoreDefectOf('28.5.0')).toBe(defect)
  })

  it.each(['20.10.24+dfsg1', '26.1.5+dfsg1', '28.4.0', '28.50.1', '29.0.0', '128.5.1', ''])(
    'knows no defect of Docker %s',
    (version) => {
      expect(restoreDefectOf(version)).toBeUndefined()
    },
  )
})
