import { describe, expect, it } from 'vitest'
import { barLine } from '../src/render/terminalRenderer.js'

const payload = { artifact: 'volume data', rate: '1.0 MiB/s', eta: '' }

describe('barLine', () => {
  it('fills the bar in proportion to the bytes done', () => {
    expect(barLine(10, 512, 1024, payload)).toContain('[#####-----] ')
  })

  it('shows a full bar when more bytes than announced went through (a tar stream of small changed files)', () => {
    expect(barLine(10, 3 * 1024, 1024, payload)).toContain('[##########] ')
  })

  it('shows no bar when the size is unknown', () => {
    expect(barLine(10, 3 * 1024, 0, payload)).not.toContain('[')
  })
})
