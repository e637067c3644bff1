import { type ListedEntry, listVolume } from '../../test/support/volumeListing.js'
import type { BenchContext } from '../lib/benchmark.js'
import { docker } from '../lib/docker.js'
import type { Host } from '../lib/engines.js'

/**
 * Downtime seen from outside, the same way for every method: the container's heartbeat
 * (an empty line every 10 ms on stdout, timestamped by each engine's log driver) stops at
 * A and starts again at B; the gap between the last line at A and the first at B is the
 * time its processes did not run (± 10 ms). Both engines run on this machine: one clock.
 *
 * @return the gap in milliseconds, and when the first line at B came (epoch ms).
 * @throws Error when either side shows no heartbeat (after 10 s at B).
 */
export async function heartbeatGap(
  context: BenchContext,
  a: Host,
  b: Host,
  name: string,
): Promise<{ gapMs: number; resumedAt: number }> {
  const last = await beats(context, a, name, ['--tail', '1'])
  if (last === undefined) throw new Error(`no heartbeat from ${name} on A`)
  for (let attempt = 0; attempt < 100; attempt++) {
    const first = await beats(context, b, name, [])
    if (first !== undefined) return { gapMs: first - last, resumedAt: first }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no heartbeat from ${name} on B within 10 s of its start`)
}

/** The first timestamp of `docker logs -t` (epoch ms with the fraction), if any. */
async function beats(
  context: BenchContext,
  host: Host,
  name: string,
  args: readonly string[],
): Promise<number | undefined> {
  const text = await docker(context, host.engine.url, ['logs', '-t', ...args, name])
  const stamp = text.split('\n')[0]?.split(' ')[0]
  return stamp ? epochMs(stamp) : undefined
}

/** `2026-12-02T22:10:11.123456789Z` → epoch milliseconds, nanoseconds kept as a fraction. */
function epochMs(stamp: string): number {
  const match = /^(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(stamp)
  if (!match?.[1]) throw new Error(`unexpected log timestamp ${stamp}`)
  const fraction = Number(`0.${match[2] ?? '0'}`)
  return Date.parse(`${match[1]}Z`) + fraction * 1000
}

/**
 * Compares the volume at A (the source frozen: stopped or checkpointed) with the one at B
 * by their checksummed listings (test/support/volumeListing.ts: path, type, mode, owner,
 * size, mtime, sha256, hard links), each taken in a one-shot container.
 *
 * A process resumed from a checkpoint finishes at B what it was doing when frozen: a write
 * begun at A (the writer's `dd` had truncated its file) lands at B after the resume. An
 * regular file that differs and whose mtime at B is at or after the resume (the first
 * heartbeat at B, whole seconds) is such a write, not a copying error: it is counted apart.
 *
 * @param resumedAt - when the target resumed at B from a checkpoint (epoch ms); undefined
 *   for a cold migration, whose processes start afresh.
 * @return `exact` (with the entries written at B after the resume, if any), or how many
 *   entries differ and the first few.
 */
export async function compareVolumes(
  a: Host,
  b: Host,
  image: string,
  volume: string,
  resumedAt: number | undefined,
): Promise<string> {
  const list = (host: Host) =>
    host.engine.call(`list volume ${volume}`, (docker) => listVolume(docker, image, volume))
  const [atA, atB] = await Promise.all([list(a), list(b)])
  const key = (entry: ListedEntry) => JSON.stringify(entry)
  const byPath = (entries: ListedEntry[]) => new Map(entries.map((e) => [e.path, key(e)]))
  const [mapA, mapB] = [byPath(atA), byPath(atB)]
  const mtimeAtB = new Map(atB.filter((e) => e.type === 'file').map((e) => [e.path, e.mtime]))
  const resumed = resumedAt === undefined ? Number.POSITIVE_INFINITY : Math.floor(resumedAt / 1000)
  const changed = [...new Set([...mapA.keys(), ...mapB.keys()])].filter(
    (path) => mapA.get(path) !== mapB.get(path),
  )
  const afterResume = changed.filter((path) => (mtimeAtB.get(path) ?? -1) >= resumed)
  const differing = changed.filter((path) => !afterResume.includes(path))
  const resumedNote =
    afterResume.length === 0
      ? ''
      : ` (${afterResume.length} written at B after the resume: ${afterResume.slice(0, 3).join(', ')})`
  if (differing.length === 0) return `exact${resumedNote}`
  const shown = differing.slice(0, 3).map((path) => {
    const [x, y] = [mapA.get(path), mapB.get(path)]
    if (!x) return `${path} only at B`
    if (!y) return `${path} only at A`
    const [ea, eb] = [JSON.parse(x), JSON.parse(y)] as Record<string, unknown>[]
    const fields = Object.keys({ ...ea, ...eb }).filter((f) => ea?.[f] !== eb?.[f])
    return `${path}: ${fields.map((f) => `${f} ${ea?.[f]} vs ${eb?.[f]}`).join(', ')}`
  })
  return `${differing.length} of ${mapA.size} entries differ (${shown.join('; ')})${resumedNote}`
}
