import { setTimeout as delay } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { PartBuffers } from '../src/partBuffers.js'

const never = new AbortController().signal

describe('PartBuffers', () => {
  it('hands out at most `count` buffers at once, and the next once one comes back', async () => {
    const buffers = new PartBuffers(2)
    const one = await buffers.take(1024, never)
    const two = await buffers.take(1024, never)
    let third: Buffer | undefined
    const taking = buffers.take(1024, never).then((buffer) => {
      third = buffer
    })
    await delay(20)
    expect(third).toBeUndefined()
    buffers.give(one)
    await taking
    // The buffer given back is the one handed out again: no third allocation.
    expect(third).toBe(one)
    expect(buffers.peakBytes).toBe(2 * 1024)
    buffers.give(two)
  })

  it('holds no more than `count` × the largest size over many parts of growing sizes', async () => {
    const buffers = new PartBuffers(3)
    const inUse: Buffer[] = []
    for (let part = 0; part < 100; part++) {
      if (inUse.length === 3) buffers.give(inUse.shift() as Buffer)
      inUse.push(await buffers.take(part < 50 ? 1000 : 2000, never))
    }
    expect(buffers.peakBytes).toBeLessThanOrEqual(3 * 2000)
  })

  it('stops waiting, with the reason, when the signal is aborted', async () => {
    const buffers = new PartBuffers(1)
    await buffers.take(10, never)
    const abort = new AbortController()
    const taking = buffers.take(10, abort.signal)
    abort.abort(new Error('stopped'))
    await expect(taking).rejects.toThrow('stopped')
    await expect(buffers.take(10, AbortSignal.abort(new Error('already')))).rejects.toThrow(
      'already',
    )
  })

  it('does not hand out again a buffer that something may still read', async () => {
    const buffers = new PartBuffers(1)
    const first = await buffers.take(10, never)
    buffers.give(first, false)
    expect(await buffers.take(10, never)).not.toBe(first)
  })
})
