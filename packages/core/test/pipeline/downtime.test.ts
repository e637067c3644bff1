import { describe, expect, it } from 'vitest'
import { downtimeOf } from '../../src/pipeline/downtime.js'

describe('downtimeOf', () => {
  it('runs from the freeze to the target started, its parts adding up to the total', () => {
    const downtime = downtimeOf({ by: 'stop', at: 1_000, durationMs: 300 }, 1_900, 2_000)
    expect(downtime).toEqual({
      totalMs: 1_000,
      frozenBy: 'stop',
      checkpointMs: 300,
      transferMs: 600,
      restoreMs: 100,
    })
  })

  it('never gives a negative part when the clocks of the steps overlap', () => {
    const downtime = downtimeOf({ by: 'checkpoint', at: 1_000, durationMs: 900 }, 1_500, 1_600)
    expect(downtime).toMatchObject({
      totalMs: 600,
      checkpointMs: 500,
      transferMs: 0,
      restoreMs: 100,
    })
  })
})
