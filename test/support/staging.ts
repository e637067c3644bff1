import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { openBuffer, readKeyFile, SEALED_MAGIC } from '@transship/core'
import { sha256Of } from './tarFiles.js'

/** Staging directories for `--via file://…`, made fresh and removed together. */
export class StagingDirs {
  readonly #prefix: string
  readonly #made: string[] = []

  /** @param prefix - the start of each directory's name under the system's tmpdir. */
  constructor(prefix: string) {
    this.#prefix = prefix
  }

  /** A fresh, empty staging directory, and its `file://` URL. */
  async make(): Promise<{ dir: string; url: string }> {
    const dir = await mkdtemp(join(tmpdir(), `${this.#prefix}-staging-`))
    this.#made.push(dir)
    return { dir, url: pathToFileURL(dir).href }
  }

  async removeAll(): Promise<void> {
    await Promise.all(this.#made.map((dir) => rm(dir, { recursive: true, force: true })))
  }
}

/** The files (not directories) under `dir`, relative, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = []
  for (const entry of await readdir(dir, { recursive: true })) {
    if ((await stat(join(dir, entry))).isFile()) files.push(entry)
  }
  return files.sort()
}

/** The directory of a backup in a local staging directory, from the URL `backup` printed. */
export function backupDirOf(backupUrl: string): string {
  return fileURLToPath(backupUrl)
}

/**
 * A backup's manifest as the tests' key opens it (`TRANSSHIP_KEY_FILE`, see keyFile.ts), or
 * as plain JSON for a `--no-encrypt` backup.
 *
 * @param backupDir - the backup's directory in a local staging directory.
 * @return the manifest, loosely typed.
 */
export async function readStagedManifest(backupDir: string): Promise<ManifestJson> {
  const stored = await readFile(join(backupDir, 'manifest.json'))
  if (!stored.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC)) {
    return JSON.parse(stored.toString('utf8')) as ManifestJson
  }
  const { secret } = await readKeyFile(process.env.TRANSSHIP_KEY_FILE ?? '')
  const context = `${basename(backupDir)}/manifest.json`
  return JSON.parse(openBuffer(secret, context, stored).toString('utf8')) as ManifestJson
}

/** A manifest as JSON, loosely typed: tests break it on purpose. */
// biome-ignore lint/suspicious/noExplicitAny: a manifest under test may hold anything
export type ManifestJson = Record<string, any>

/** Rewrites a backup's manifest.json with `edit` applied. */
export async function editManifest(
  backupDir: string,
  edit: (manifest: ManifestJson) => void,
): Promise<void> {
  const path = join(backupDir, 'manifest.json')
  const manifest = JSON.parse(await readFile(path, 'utf8')) as ManifestJson
  edit(manifest)
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`)
}

/**
 * Replaces a backup's artifact with other bytes and records their size and sha256 in the
 * manifest, so that only the content itself can be found at fault.
 */
export async function replaceArtifact(backupDir: string, key: string, data: Buffer): Promise<void> {
  await writeFile(join(backupDir, key), data)
  await editManifest(backupDir, (manifest) => {
    const artifact = (manifest.artifacts as ManifestJson[]).find((a) => a.key === key)
    if (!artifact) throw new Error(`the manifest in ${backupDir} lists no artifact ${key}`)
    artifact.size = data.length
    artifact.sha256 = sha256Of(data)
  })
}
