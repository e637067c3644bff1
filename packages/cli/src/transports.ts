import { createRequire } from 'node:module'
import { isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Transport, TransportRegistry } from '@transship/core'
import { Option } from 'commander'
import { loadCore } from './loadCore.js'

/** What `--transport-module` and `--ssh-config` give a command that opens transports. */
export interface TransportFlags {
  readonly sshConfig?: string
  readonly transportModule?: string[]
}

/** The environment variable that names transport modules, comma-separated. */
export const TRANSPORT_MODULES_VARIABLE = 'TRANSSHIP_TRANSPORT_MODULES'

/**
 * `--transport-module SPEC` (repeatable): a package or file exporting `transportSchemes`,
 * whose URL schemes `--via` and backup URLs then reach.
 */
export function transportModuleOption(): Option {
  return new Option(
    '--transport-module <spec>',
    `load a transport package (a name, or a path to its module) that exports transportSchemes, so that its URL schemes work; repeatable (also ${TRANSPORT_MODULES_VARIABLE}, comma-separated)`,
  ).argParser((value: string, previous: string[] = []) => [...previous, value])
}

/**
 * Opens the transport a URL names, through the registry of transports: the built-in
 * ones, each package loaded only for its own scheme (a local directory never loads the S3
 * SDK), and those of the modules `--transport-module` and `TRANSSHIP_TRANSPORT_MODULES` name.
 *
 * @param url - `file:///dir`, `scp://[user@]host[:port]/path`, `s3://bucket/prefix`, or a
 *   scheme a transport module registers.
 * @param flags - `sshConfig`: the OpenSSH client config for `scp://` hosts; the modules.
 * @return the transport.
 * @throws TransshipError `TRANSPORT_URL_INVALID` for a scheme nothing registered,
 *   `TRANSPORT_MODULE_INVALID` for a module that does not load or registers nothing.
 */
export async function openTransport(url: string, flags: TransportFlags = {}): Promise<Transport> {
  const registry = await registryOf(flags)
  return registry.open(url, {
    ...(flags.sshConfig ? { sshConfig: flags.sshConfig } : {}),
    onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
  })
}

async function registryOf(flags: TransportFlags): Promise<TransportRegistry> {
  const { TransportRegistry } = await loadCore()
  const registry = new TransportRegistry()
    .register({
      scheme: 'file',
      example: 'file:///dir',
      load: async () => (await import('@transship/transport-local')).transportSchemes,
    })
    .register({
      scheme: 'scp',
      example: 'scp://[user@]host[:port]/path',
      load: async () => (await import('@transship/transport-scp')).transportSchemes,
    })
    .register({
      scheme: 's3',
      example: 's3://bucket/prefix',
      load: async () => (await import('@transship/transport-s3')).transportSchemes,
    })
  const fromEnvironment = (process.env[TRANSPORT_MODULES_VARIABLE] ?? '')
    .split(',')
    .map((spec) => spec.trim())
    .filter(Boolean)
  for (const spec of [...fromEnvironment, ...(flags.transportModule ?? [])]) {
    await registry.loadModule(moduleUrlOf(spec))
  }
  return registry
}

/**
 * Where a module named on the command line is: a path, from the working directory; a
 * package name, from the working directory's node_modules first (where the user installed
 * it), else as the installed CLI finds it.
 */
function moduleUrlOf(spec: string): string {
  if (spec.startsWith('.') || isAbsolute(spec)) return pathToFileURL(resolve(spec)).href
  try {
    const resolved = createRequire(join(process.cwd(), 'noop.js')).resolve(spec)
    // A Node built-in resolves to its own name.
    return isAbsolute(resolved) ? pathToFileURL(resolved).href : resolved
  } catch {
    return spec
  }
}

/**
 * Splits a backup URL, `<transport URL>/<backup id>`, as `backup` prints it.
 *
 * @param url - the backup URL.
 * @return the transport URL and the backup id.
 * @throws TransshipError `BACKUP_URL_INVALID` when there is no id after the last `/`.
 */
export async function splitBackupUrl(url: string): Promise<{ transportUrl: string; id: string }> {
  const trimmed = url.replace(/\/+$/, '')
  const slash = trimmed.lastIndexOf('/')
  const id = trimmed.slice(slash + 1)
  const transportUrl = trimmed.slice(0, slash)
  if (slash < 0 || id === '' || !/^[a-z0-9+.-]+:\/\/?.+/i.test(transportUrl)) {
    const { TransshipError } = await loadCore()
    throw new TransshipError(
      'BACKUP_URL_INVALID',
      `${JSON.stringify(url)} is not a backup URL: expected <transport URL>/<backup id>, as backup prints it`,
    )
  }
  return { transportUrl, id }
}
