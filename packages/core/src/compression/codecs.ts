import { createRequire } from 'node:module'
import type { Transform } from 'node:stream'
import zlib from 'node:zlib'
import { TransshipError } from '../errors.js'

/** The codecs a backup's artifacts may be compressed with. */
export const CODEC_NAMES = ['zstd', 'gzip'] as const

/** A codec's name, as a manifest records it. */
export type CodecName = (typeof CODEC_NAMES)[number]

/** What a user chooses (`--compress`): a codec, or `none`. */
export type Compression = CodecName | 'none'

/** A streaming compressor and decompressor: memory stays flat with the data's size. */
export interface Codec {
  readonly name: CodecName
  /** Where it comes from: `node:zlib`, or the `zstd-napi` package. */
  readonly from: string
  /** A stream that compresses what is written to it. */
  compress(): Transform
  /** A stream that decompresses what is written to it; it fails on a corrupt stream. */
  decompress(): Transform
}

/** Node's zlib from 22.15 on; @types/node for Node 20 does not declare it. */
interface ZstdZlib {
  createZstdCompress(options?: { params?: Record<number, number> }): Transform
  createZstdDecompress(): Transform
  constants: { ZSTD_c_compressionLevel: number }
}

/** zstd's default level: about gzip's ratio at several times its speed. */
const ZSTD_LEVEL = 3

const gzip: Codec = {
  name: 'gzip',
  from: 'node:zlib',
  compress: () => zlib.createGzip(),
  decompress: () => zlib.createGunzip(),
}

/**
 * zstd from Node's own zlib where the running Node has it (22.15 and later), else from the
 * optional `zstd-napi` package (built from its sources at install), loaded on first use.
 */
function findZstd(): Codec | undefined {
  const native = zlib as unknown as Partial<ZstdZlib>
  if (native.createZstdCompress && native.createZstdDecompress && native.constants) {
    const { createZstdCompress, createZstdDecompress, constants } = native as ZstdZlib
    const params = { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL }
    return {
      name: 'zstd',
      from: 'node:zlib',
      compress: () => createZstdCompress({ params }),
      decompress: () => createZstdDecompress(),
    }
  }
  let napi: typeof import('zstd-napi')
  try {
    napi = createRequire(import.meta.url)('zstd-napi') as typeof import('zstd-napi')
  } catch {
    return undefined
  }
  return {
    name: 'zstd',
    from: 'zstd-napi',
    compress: () => new napi.CompressStream({ compressionLevel: ZSTD_LEVEL }),
    decompress: () => new napi.DecompressStream(),
  }
}

let zstd: Codec | null | undefined

/**
 * The codec of that name on this machine.
 *
 * @param name - `zstd` or `gzip`.
 * @return the codec, or `undefined` when this machine has no zstd (a Node older than 22.15
 *   and `zstd-napi` not installed).
 */
export function findCodec(name: CodecName): Codec | undefined {
  if (name === 'gzip') return gzip
  if (zstd === undefined) zstd = findZstd() ?? null
  return zstd ?? undefined
}

/** The codec a run stages with, and why it is not the one asked for. */
export interface CompressingCodec {
  /** `undefined`: the artifacts are stored as they are. */
  readonly codec: Codec | undefined
  /** Set when zstd was asked for and gzip is used instead. */
  readonly warning?: string
}

/**
 * The codec to stage with for a choice: zstd falls back to gzip, with a warning, where
 * this machine has no zstd.
 *
 * @param choice - `zstd`, `gzip` or `none`.
 * @return the codec and any warning.
 */
export function compressingCodec(choice: Compression): CompressingCodec {
  if (choice === 'none') return { codec: undefined }
  const codec = findCodec(choice)
  if (codec) return { codec }
  return {
    codec: gzip,
    warning:
      'compressing with gzip, not zstd: this Node (older than 22.15) has no zstd in its zlib and the zstd-napi package is not installed (it builds at install with a C compiler); gzip is slower and compresses less',
  }
}

/**
 * The codec that reads what a backup's manifest says its artifacts were compressed with.
 *
 * @param name - the manifest's `compression`.
 * @param backup - the backup's URL, for the error.
 * @return the codec.
 * @throws TransshipError `COMPRESSION_UNKNOWN` for a codec this transship does not know,
 *   `COMPRESSION_UNAVAILABLE` for zstd on a machine without it.
 */
export function readingCodec(name: string, backup: string): Codec {
  if (!(CODEC_NAMES as readonly string[]).includes(name)) {
    throw new TransshipError(
      'COMPRESSION_UNKNOWN',
      `backup at ${backup} is compressed with ${JSON.stringify(name)}, which this transship does not know (it reads ${CODEC_NAMES.join(', ')}): nothing was restored`,
    )
  }
  const codec = findCodec(name as CodecName)
  if (!codec) {
    throw new TransshipError(
      'COMPRESSION_UNAVAILABLE',
      `backup at ${backup} is compressed with ${name}, which this machine cannot decompress: run transship on Node 22.15 or later, or install it where the zstd-napi package builds (a C compiler at install): nothing was restored`,
    )
  }
  return codec
}
