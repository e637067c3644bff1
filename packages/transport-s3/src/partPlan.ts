const MiB = 1024 * 1024

/** S3's smallest part (all but the last part of a multipart upload). */
export const MIN_PART_SIZE = 5 * MiB
/** S3's largest part. */
export const MAX_PART_SIZE = 5 * 1024 * MiB
/** S3's largest part count. */
export const MAX_PARTS = 10_000
/** S3's largest object: 5 TiB. */
export const MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB

/**
 * For an artifact whose size is known or estimated: how many parts of the base size it is
 * planned to take. The other 1,000 are headroom for an estimate that falls short.
 */
const PLANNED_PARTS = 9_000
/** For an artifact of unknown size: how many parts keep the base size before parts grow. */
const PARTS_BEFORE_GROWTH = 1_000
/** How many times part sizes double over the parts left after the first ones. */
const DOUBLINGS = 10

/** The part sizes of one multipart upload. */
export interface PartPlan {
  /** The size of the first parts, and of every part while the artifact stays within plan. */
  readonly baseSize: number
  /** The size of part `partNumber` (1-based). */
  sizeOf(partNumber: number): number
}

/**
 * Sizes the parts of an upload so that any artifact up to S3's 5 TiB fits in its 10,000
 * parts, with memory held to `parallelism` × the part size.
 *
 * - With a size (exact or estimated), every part has one size, large enough for the
 *   artifact to take at most 9,000 parts (`partSize` when that is larger): a 5 TiB artifact
 *   gets 583 MiB parts. Should an estimate fall short, the last 1,000 parts double in size
 *   every 100 parts.
 * - Without a size, the first 1,000 parts have `partSize`; the 9,000 others double in size
 *   every 900 parts (up to S3's 5 GiB), so that even a stream of unknown length reaches
 *   5 TiB (from 8 MiB parts: 7.8 GiB at 8 MiB, then 16 MiB parts, …). Memory grows with the
 *   part size only for streams that go past the first 1,000 parts.
 *
 * @param partSize - the smallest part size wanted, at least 5 MiB.
 * @param expectedSize - the artifact's size or an estimate of it, when known.
 * @return the plan.
 */
export function planParts(partSize: number, expectedSize?: number): PartPlan {
  const known = expectedSize !== undefined && expectedSize > 0
  const baseSize = known
    ? Math.min(MAX_PART_SIZE, Math.max(partSize, roundUpToMiB(expectedSize / PLANNED_PARTS)))
    : partSize
  const fixedParts = known ? PLANNED_PARTS : PARTS_BEFORE_GROWTH
  const growEvery = Math.ceil((MAX_PARTS - fixedParts) / DOUBLINGS)
  return {
    baseSize,
    sizeOf(partNumber) {
      const index = partNumber - 1
      if (index < fixedParts) return baseSize
      const doublings = 1 + Math.floor((index - fixedParts) / growEvery)
      return Math.min(MAX_PART_SIZE, baseSize * 2 ** doublings)
    },
  }
}

function roundUpToMiB(bytes: number): number {
  return Math.ceil(bytes / MiB) * MiB
}
