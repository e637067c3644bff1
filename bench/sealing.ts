import { createHash, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { PassThrough, Readable, type Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption'
import { hashingStream } from '../packages/core/src/archive/hashingStream.js'
import { Opener } from '../packages/core/src/sealing/opener.js'
import type { Aead } from '../packages/core/src/sealing/sealedFormat.js'
import { transformOf } from '../packages/core/src/sealing/sealedStream.js'
import { Sealer } from '../packages/core/src/sealing/sealer.js'
import { SecretKey } from '../packages/core/src/sealing/secretKey.js'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import { describeLoad, machineLoad } from './lib/machine.js'
import { binaryBytes, median, printTable, ratio } from './lib/table.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** Bytes of each piece the source yields: what a file or socket read typically gives. */
const PIECE = 64 * 1024

/** Bytes each candidate seals and opens, untimed, before the timed runs. */
const WARM_UP = 16 * MiB

/** The source repeats this much random data (incompressible, and cheap to produce). */
const PATTERN = randomBytes(4 * MiB)

/**
 * `pnpm bench sealing`: the CPU cost of sealing staged backups. 1 GiB (times BENCH_SCALE)
 * of random data streams through sha256, as every artifact does today, and through the
 * sealing candidates: the chunked AEAD stream of packages/core/src/sealing on Node's
 * native ChaCha20-Poly1305 (the format) and AES-256-GCM, and the `age-encryption`
 * package (pure JavaScript, X25519 recipient). Each seals (backup: sha256 then seal), and
 * seals then opens in one pipeline (backup and restore: sha256, seal, open, sha256). No
 * engines, no disk: the figures are the upper bound of encryption's share of a backup.
 */
export const sealingBenchmark: Benchmark = {
  name: 'sealing',
  description:
    'sha256 only vs Node-native chunked AEAD (chacha20-poly1305, aes-256-gcm) vs age-encryption',
  run,
}

/** How a candidate seals and opens, as stream stages, and what it reports itself as. */
interface Candidate {
  readonly id: string
  readonly what: string
  /** Streams `plaintext` through sealing alone; resolves to the bytes of sealed output. */
  seal(plaintext: Readable): Promise<number>
  /** Streams `plaintext` through sealing and opening; resolves to the opened plaintext's sha256. */
  roundTrip(plaintext: Readable): Promise<string>
}

interface Timings {
  readonly sealMs: number[]
  readonly roundTripMs: number[]
  sealedBytes: number
}

async function run(context: BenchContext): Promise<void> {
  const { settings, log, signal } = context
  const size = Math.max(1, Math.round(GiB * settings.scale))
  const candidates = [
    passThroughCandidate(),
    nodeCandidate('chacha20-poly1305'),
    nodeCandidate('aes-256-gcm'),
    await ageCandidate(),
  ]
  const expected = sourceSha256(size)
  const timings = new Map<string, Timings>(
    candidates.map((c) => [c.id, { sealMs: [], roundTripMs: [], sealedBytes: 0 }]),
  )
  // Untimed: the first pipelines of a process run slower (JIT, allocator), whichever
  // candidate comes first.
  for (const candidate of candidates) await candidate.roundTrip(source(Math.min(size, WARM_UP)))
  const loadBefore = machineLoad()
  for (let index = 0; index < settings.runs; index++) {
    // Each run in another order, so that no candidate always follows the same one.
    const shift = index % candidates.length
    const order = [...candidates.slice(shift), ...candidates.slice(0, shift)]
    for (const candidate of order) {
      signal.throwIfAborted()
      const timing = timings.get(candidate.id) as Timings
      let started = performance.now()
      timing.sealedBytes = await candidate.seal(source(size))
      timing.sealMs.push(performance.now() - started)
      started = performance.now()
      const opened = await candidate.roundTrip(source(size))
      timing.roundTripMs.push(performance.now() - started)
      if (opened !== expected) {
        throw new Error(`${candidate.id}: the opened data differ from the sealed data`)
      }
      log(
        `run ${index + 1}/${settings.runs} ${candidate.id}: seal ${mibPerSecond(size, timing.sealMs.at(-1))} MiB/s, ` +
          `seal+open ${mibPerSecond(size, timing.roundTripMs.at(-1))} MiB/s`,
      )
    }
  }
  printResults(size, settings.runs, candidates, timings, [loadBefore, machineLoad()])
}

/** `size` bytes of the repeated random pattern, in {@link PIECE}-byte pieces. */
function* pieces(size: number): Generator<Buffer> {
  for (let offset = 0; offset < size; offset += PIECE) {
    const start = offset % PATTERN.length
    yield PATTERN.subarray(start, start + Math.min(PIECE, size - offset))
  }
}

function source(size: number): Readable {
  return Readable.from(pieces(size), { objectMode: false })
}

function sourceSha256(size: number): string {
  const hash = createHash('sha256')
  for (const piece of pieces(size)) hash.update(piece)
  return hash.digest('hex')
}

/** A sink that counts the bytes it is given. */
function counter(): { sink: Writable; bytes: () => number } {
  let bytes = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      callback()
    },
  })
  return { sink, bytes: () => bytes }
}

/** A candidate built of Node stream stages: sha256 → seal [→ open → sha256]. */
function streamCandidate(
  id: string,
  what: string,
  sealing: () => Transform,
  opening: () => Transform,
): Candidate {
  return {
    id,
    what,
    async seal(plaintext) {
      const { sink, bytes } = counter()
      await pipeline(plaintext, hashingStream(), sealing(), sink)
      return bytes()
    },
    async roundTrip(plaintext) {
      const opened = hashingStream()
      await pipeline(plaintext, hashingStream(), sealing(), opening(), opened, counter().sink)
      return (await opened.digest()).sha256
    },
  }
}

/** The reference: what a copy costs today, sha256 and pass-through stages in their place. */
function passThroughCandidate(): Candidate {
  return streamCandidate(
    'sha256 only',
    'the reference: sha256 on the way in and out, pass-through streams in place of seal and open',
    () => new PassThrough(),
    () => new PassThrough(),
  )
}

function nodeCandidate(aead: Aead): Candidate {
  const secret = SecretKey.generate()
  const context = 'bench-backup/volumes/0.tar'
  return streamCandidate(
    `node ${aead}`,
    `Node's crypto, ${aead}, 64 KiB chunks (packages/core/src/sealing${aead === 'chacha20-poly1305' ? ', the format' : ''})`,
    () => transformOf(new Sealer(secret, context, aead)),
    () => transformOf(new Opener(secret, context, aead)),
  )
}

/**
 * age-encryption 0.3: web streams in and out (`Encrypter.encrypt(ReadableStream)`), an
 * X25519 recipient (its header costs one X25519 operation, not the scrypt of a passphrase).
 */
async function ageCandidate(): Promise<Candidate> {
  const identity = await generateX25519Identity()
  const recipient = await identityToRecipient(identity)
  const encrypter = new Encrypter()
  encrypter.addRecipient(recipient)
  const decrypter = new Decrypter()
  decrypter.addIdentity(identity)
  const hashedWeb = (plaintext: Readable) =>
    Readable.toWeb(plaintext.pipe(hashingStream())) as unknown as ReadableStream<Uint8Array>
  return {
    id: 'age-encryption',
    what: 'the age-encryption package (pure JavaScript: @noble/ciphers ChaCha20-Poly1305, 64 KiB chunks), web streams',
    async seal(plaintext) {
      const sealed = await encrypter.encrypt(hashedWeb(plaintext))
      const { sink, bytes } = counter()
      await pipeline(Readable.fromWeb(sealed as WebReadableStream<Uint8Array>), sink)
      return bytes()
    },
    async roundTrip(plaintext) {
      const sealed = await encrypter.encrypt(hashedWeb(plaintext))
      const opened = await decrypter.decrypt(sealed)
      const hashing = hashingStream()
      await pipeline(
        Readable.fromWeb(opened as WebReadableStream<Uint8Array>),
        hashing,
        counter().sink,
      )
      return (await hashing.digest()).sha256
    },
  }
}

function mibPerSecond(bytes: number, ms: number | undefined): string {
  return (bytes / MiB / ((ms ?? Number.NaN) / 1000)).toFixed(0)
}

function printResults(
  size: number,
  runs: number,
  candidates: readonly Candidate[],
  timings: ReadonlyMap<string, Timings>,
  load: readonly [ReturnType<typeof machineLoad>, ReturnType<typeof machineLoad>],
): void {
  const reference = timings.get('sha256 only') as Timings
  const referenceSeal = median(reference.sealMs)
  const referenceRoundTrip = median(reference.roundTripMs)
  const rows = candidates.map((candidate) => {
    const timing = timings.get(candidate.id) as Timings
    const sealMs = median(timing.sealMs)
    const roundTripMs = median(timing.roundTripMs)
    return [
      candidate.id,
      mibPerSecond(size, sealMs),
      ratio(sealMs, referenceSeal),
      mibPerSecond(size, roundTripMs),
      ratio(roundTripMs, referenceRoundTrip),
      `+${(((timing.sealedBytes - size) / size) * 100).toFixed(3)}%`,
    ]
  })
  printTable(
    `sealing: ${binaryBytes(size)} of random data from memory, median of ${runs} run${runs === 1 ? '' : 's'}; ` +
      'seal = sha256 then seal (a backup), seal+open = sha256, seal, open, sha256 (a backup and its restore)',
    [
      { title: 'candidate', align: 'left' },
      { title: 'seal MiB/s' },
      { title: 'time/ref' },
      { title: 'seal+open MiB/s' },
      { title: 'time/ref' },
      { title: 'size' },
    ],
    rows,
    [
      ...candidates.map((candidate) => `${candidate.id}: ${candidate.what}`),
      'time/ref: the time relative to sha256 only (1.00 = free); size: sealed bytes over plaintext',
      'one core: seal and open run in the same thread, one after the other for each chunk',
      describeLoad(...load),
    ],
  )
}
