import { writeLargeFiles, writeSmallFiles } from '../lib/data.js'
import type { MethodId } from './methods.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** What runs in a migrated container, and what its volume holds. */
export interface Workload {
  /** Part of the container's name, and the key of its results. */
  readonly id: 'idle' | 'writer' | 'small' | 'redis' | 'large'
  /** For table titles, e.g. `idle, 1 GiB volume in 4 files`. */
  readonly label: string
  readonly image: 'busybox' | 'redis'
  /** The container's command, `sh -c SCRIPT`: always with the heartbeat ({@link HEARTBEAT}). */
  readonly script: string
  /** Its environment (`-e`). */
  readonly env: Record<string, string>
  /** Fills the volume's host directory on A once, before the runs. */
  readonly fill?: (dir: string, signal: AbortSignal) => Promise<void>
  /** Redis only: keys of 1 MiB held only in memory, filled before each migration. */
  readonly memoryKeys?: number
  /** The methods measured; the others are shown as n/a. */
  readonly methods: readonly MethodId[]
  /** Counted runs (the warm-up run comes on top unless `warmUp` is false). */
  readonly runs: number
  readonly warmUp: boolean
  /**
   * Compare a listing of the volume at A (frozen) with the one at B after each migration:
   * in every run (`every`), in the warm-up run only (`warm-up`), or never.
   */
  readonly checkData: 'every' | 'warm-up' | 'never'
  /** How long the source runs before each migration, in ms (the writer gets going). */
  readonly runBeforeMs: number
}

/**
 * The heartbeat every workload's container runs in the foreground: an empty line on
 * stdout every 10 ms, which the engine's log driver timestamps. The last line at A and the
 * first at B bound the time the container's processes did not run, seen from outside, the
 * same way for every method. SIGTERM ends it at once, so that `docker stop` does not wait.
 */
const HEARTBEAT = 'trap "exit 0" TERM; while :; do echo; usleep 10000; done'

/**
 * The writer: every 45 ms it rewrites one of 64 files of `CHUNK` bytes in `/data/w` with
 * a chunk read from the volume's large files (page cache: the write itself takes well
 * under a millisecond, so a checkpoint rarely catches one half done). With the loop's own
 * processes that is about 20 MiB/s at scale 1. It writes only while it runs on A (its
 * mounts are under A's data root): once migrated, at B it stays idle, so that B's volume
 * can be compared with A's frozen one.
 */
const WRITER = `mkdir -p /data/w; i=0
while :; do
  if grep -qF "$WRITE_ONLY_UNDER" /proc/self/mountinfo; then
    dd if=/data/large-$((RANDOM % 4)).bin of=/data/w/seg-$((i % 64)) bs=$CHUNK count=1 skip=$((RANDOM % BLOCKS)) 2>/dev/null
    i=$((i + 1))
  fi
  usleep 45000
done`

const REDIS = 'redis-server --save "" --appendonly no --protected-mode no >/dev/null &'

/**
 * The workloads of issue 13, sizes multiplied by BENCH_SCALE.
 *
 * @param scale - BENCH_SCALE.
 * @param runs - BENCH_RUNS.
 * @param aDataRoot - engine A's data root on this machine (the writer's "am I on A").
 */
export function workloads(scale: number, runs: number, aDataRoot: string): Workload[] {
  const oneGiB = Math.max(4 * 4096, Math.round(GiB * scale))
  const fourGiB = Math.max(4 * 4096, Math.round(4 * GiB * scale))
  const chunk = Math.max(4096, Math.round((MiB * scale) / 4096) * 4096)
  const smallFiles = Math.max(1, Math.round(50_000 * scale))
  const keys = Math.max(1, Math.round(256 * scale))
  const large = (bytes: number, files: number) => (dir: string, signal: AbortSignal) =>
    writeLargeFiles(dir, bytes, files, signal)
  const all: MethodId[] = ['a', 'b', 'c', 'd', 'e', 'f']
  const size = (bytes: number) =>
    bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`
  return [
    {
      id: 'idle',
      label: `idle busybox, ${size(oneGiB)} volume in 4 files`,
      image: 'busybox',
      script: HEARTBEAT,
      env: {},
      fill: large(oneGiB, 4),
      methods: ['tar', ...all],
      runs,
      warmUp: true,
      checkData: 'warm-up',
      runBeforeMs: 200,
    },
    {
      id: 'writer',
      label: `busybox writing ~${((20 * chunk) / MiB).toFixed(2)} MiB/s into its ${size(oneGiB)} volume`,
      image: 'busybox',
      script: `${WRITER} &\n${HEARTBEAT}`,
      env: {
        WRITE_ONLY_UNDER: `${aDataRoot.replace(/\/+$/, '')}/`,
        CHUNK: String(chunk),
        BLOCKS: String(Math.max(1, Math.floor(oneGiB / 4 / chunk))),
      },
      fill: large(oneGiB, 4),
      methods: all,
      runs,
      warmUp: true,
      checkData: 'every',
      runBeforeMs: 2000,
    },
    {
      id: 'small',
      label: `idle busybox, ${smallFiles.toLocaleString('en-US')} small files of 1-8192 bytes`,
      image: 'busybox',
      script: HEARTBEAT,
      env: {},
      fill: async (dir, signal) => writeSmallFiles(dir, smallFiles, signal),
      methods: ['tar', ...all],
      runs,
      warmUp: true,
      checkData: 'never',
      runBeforeMs: 200,
    },
    {
      id: 'redis',
      label: `redis holding ${keys} MiB in memory (empty volume)`,
      image: 'redis',
      script: `${REDIS} ${HEARTBEAT}`,
      env: {},
      memoryKeys: keys,
      methods: ['b', 'd', 'e', 'f'],
      runs,
      warmUp: true,
      checkData: 'never',
      runBeforeMs: 0,
    },
    {
      id: 'large',
      label: `idle busybox, ${size(fourGiB)} volume in 16 files (peak RSS)`,
      image: 'busybox',
      script: HEARTBEAT,
      env: {},
      fill: large(fourGiB, 16),
      methods: ['c'],
      runs,
      warmUp: false,
      checkData: 'never',
      runBeforeMs: 200,
    },
  ]
}
