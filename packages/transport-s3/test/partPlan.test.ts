import { describe, expect, it } from 'vitest'
import {
  MAX_OBJECT_SIZE,
  MAX_PART_SIZE,
  MAX_PARTS,
  MIN_PART_SIZE,
  planParts,
} from '../src/partPlan.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** How many parts the plan takes for `size` bytes, or Infinity past S3's 10,000. */
function partsFor(plan: ReturnType<typeof planParts>, size: number): number {
  let left = size
  for (let number = 1; number <= MAX_PARTS; number++) {
    left -= plan.sizeOf(number)
    if (left <= 0) return number
  }
  return Number.POSITIVE_INFINITY
}

function largestPart(plan: ReturnType<typeof planParts>, parts: number): number {
  let largest = 0
  for (let number = 1; number <= parts; number++) largest = Math.max(largest, plan.sizeOf(number))
  return largest
}

describe('planParts', () => {
  it('sizes the parts of a known 5 TiB artifact to fit 10,000 parts, all of one size', () => {
    const plan = planParts(8 * MiB, MAX_OBJECT_SIZE)
    expect(plan.baseSize).toBe(583 * MiB)
    const parts = partsFor(plan, MAX_OBJECT_SIZE)
    expect(parts).toBeLessThanOrEqual(9_000)
    expect(largestPart(plan, parts)).toBe(plan.baseSize)
  })

  it('keeps the part size asked for when the known size fits in it', () => {
    expect(planParts(8 * MiB, 1 * GiB).baseSize).toBe(8 * MiB)
    expect(planParts(16 * MiB, 100 * GiB).baseSize).toBe(16 * MiB)
    expect(planParts(8 * MiB, 100 * GiB).baseSize).toBe(12 * MiB)
  })

  it('still fits an artifact whose estimate fell short, in larger last parts', () => {
    const plan = planParts(8 * MiB, 100 * GiB)
    expect(partsFor(plan, 100 * GiB)).toBeLessThanOrEqual(9_000)
    expect(largestPart(plan, partsFor(plan, 100 * GiB))).toBe(plan.baseSize)
    expect(partsFor(plan, 150 * GiB)).toBeLessThanOrEqual(MAX_PARTS)
    // Ten times the estimate still fits: the last 1,000 parts grow to 1,024 times the first.
    expect(partsFor(plan, 1000 * GiB)).toBeLessThanOrEqual(MAX_PARTS)
  })

  for (const partSize of [MIN_PART_SIZE, 8 * MiB, 64 * MiB]) {
    it(`fits 5 TiB of unknown size in 10,000 parts from ${partSize / MiB} MiB parts`, () => {
      const plan = planParts(partSize)
      expect(partsFor(plan, MAX_OBJECT_SIZE)).toBeLessThanOrEqual(MAX_PARTS)
      // The first 1,000 parts, the memory of most uploads, keep the size asked for.
      expect(largestPart(plan, 1_000)).toBe(partSize)
      expect(largestPart(plan, MAX_PARTS)).toBeLessThanOrEqual(MAX_PART_SIZE)
    })
  }

  it('never makes a part smaller than asked for, or larger than 5 GiB', () => {
    for (const plan of [planParts(MIN_PART_SIZE), planParts(MIN_PART_SIZE, 10 * MAX_OBJECT_SIZE)]) {
      for (let number = 1; number <= MAX_PARTS; number += 37) {
        expect(plan.sizeOf(number)).toBeGreaterThanOrEqual(MIN_PART_SIZE)
        expect(plan.sizeOf(number)).toBeLessThanOrEqual(MAX_PART_SIZE)
      }
    }
  })

  it('takes an empty or zero size as unknown', () => {
    expect(planParts(8 * MiB, 0).sizeOf(1)).toBe(8 * MiB)
    expect(planParts(8 * MiB, 0).sizeOf(1_001)).toBe(16 * MiB)
  })
})
