import { createReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { assertExpectation, type Transport, TransshipError } from '@transship/core'
import { DRIVER_NAME, hasCode, ioError } from './errors.js'
import { artifactPath, assertInsideBase, prefixPath } from './keyPath.js'
import { listFiles } from './listFiles.js'
import { removeTree } from './removeTree.js'
import { writeAtomically } from './writeAtomically.js'

/** Options of {@link createLocalTransport}. */
export interface LocalTransportOptions {
  /**
   * The staging directory; a relative path is taken from the current directory. It is
   * created, mode 0700, by the first `put` when missing.
   */
  readonly base: string
}

/**
 * A transport that stages artifacts as files under a local directory. A `put` writes a
 * hidden temporary file next to its target (`.<name>.partial-<hex>`, mode 0600, in
 * directories created with mode 0700), syncs it and renames it into place once it is
 * complete and matches `expected`. Keys that lead out of `base`, syntactically or through
 * a symlink, are refused.
 *
 * ## Example
 * ```ts
 * const transport = createLocalTransport({ base: '/srv/staging' })
 * await transport.put('backup-1/volumes/0.tar', tarStream, { sha256 })
 * const stream = await transport.get('backup-1/volumes/0.tar')
 * ```
 *
 * @param options - see {@link LocalTransportOptions}.
 * @return a {@link Transport} named `local`, whose methods throw as the contract says.
 * @throws TransshipError `TRANSPORT_OPTIONS_INVALID` when `base` is missing.
 */
export function createLocalTransport(options: LocalTransportOptions): Transport {
  if (typeof options?.base !== 'string' || options.base === '') {
    throw new TransshipError(
      'TRANSPORT_OPTIONS_INVALID',
      `[${DRIVER_NAME}] Missing required option \`base\`.`,
    )
  }
  const base = resolve(options.base)

  return {
    name: DRIVER_NAME,
    url: pathToFileURL(base).href,

    async put(key, body, expected, { signal } = {}) {
      const path = artifactPath(base, key)
      try {
        signal?.throwIfAborted()
        await assertInsideBase(base, key, path)
        const written = await writeAtomically(path, body, {
          signal,
          sha256: expected?.sha256 !== undefined,
          verify: (file) => assertExpectation(DRIVER_NAME, key, path, file, expected),
        })
        return { key, size: written.size, modified: written.modified }
      } catch (error) {
        throw ioError('put', key, path, error)
      }
    },

    async get(key, { signal } = {}) {
      const path = artifactPath(base, key)
      try {
        signal?.throwIfAborted()
        await assertInsideBase(base, key, path)
        if ((await statFile(path)) === undefined) throw notFound(key, path)
        return createReadStream(path, { fd: await open(path), signal })
      } catch (error) {
        throw ioError('get', key, path, error)
      }
    },

    async stat(key, { signal } = {}) {
      const path = artifactPath(base, key)
      try {
        signal?.throwIfAborted()
        await assertInsideBase(base, key, path)
        const info = await statFile(path)
        return info && { key, size: info.size, modified: info.mtime }
      } catch (error) {
        throw ioError('stat', key, path, error)
      }
    },

    async list(prefix, { signal } = {}) {
      const { key, path } = prefixPath(base, prefix)
      try {
        signal?.throwIfAborted()
        await assertInsideBase(base, key, path)
        return await listFiles(base, path, key)
      } catch (error) {
        throw ioError('list', prefix, path, error)
      }
    },

    async remove(prefix, { signal } = {}) {
      const { key, path } = prefixPath(base, prefix)
      if (key === '') {
        throw new TransshipError(
          'TRANSPORT_INVALID_KEY',
          `[${DRIVER_NAME}] refusing to remove the empty prefix: it would remove everything under ${base}`,
        )
      }
      try {
        signal?.throwIfAborted()
        await assertInsideBase(base, key, path)
        await removeTree(base, path)
      } catch (error) {
        throw ioError('remove', prefix, path, error)
      }
    },
  }
}

/** The stat of the regular file at `path`, or `undefined` when there is none. */
async function statFile(path: string) {
  try {
    const info = await stat(path)
    return info.isFile() ? info : undefined
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return undefined
    throw error
  }
}

function notFound(key: string, path: string): TransshipError {
  return new TransshipError(
    'TRANSPORT_NOT_FOUND',
    `[${DRIVER_NAME}] nothing is stored under ${JSON.stringify(key)} (${path})`,
  )
}
