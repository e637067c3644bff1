import { messageOf, TransshipError } from '../errors.js'
import type { NetworkRecord, SourceContainer, VolumeRecord } from '../manifest/schema.js'

/**
 * What the target changes from its source, chosen at restore time (`migrate`, `restore`):
 * applied before anything is created, shown by `plan` and `restore --dry-run`. The source
 * and the manifest keep what was; only the target differs.
 */
export interface TargetChanges {
  /**
   * The port bindings, replacing the source's: Docker's `-p` grammar,
   * `[ip:][hostPort:]containerPort[/protocol]` (`--publish`).
   */
  readonly publish?: readonly string[]
  /** Environment variables set in the target, over the source's (`--env KEY=VALUE`). */
  readonly env?: Readonly<Record<string, string>>
  /** Networks by another name at the destination: source network → its name there (`--network`). */
  readonly networks?: Readonly<Record<string, string>>
  /**
   * Volume names at the destination, by the source volume's name or mount path
   * (`--volume-name`): the content is copied into the volume of that name.
   */
  readonly volumeNames?: Readonly<Record<string, string>>
}

/** A port binding: the container's port (`80/tcp`), and where the host publishes it. */
export interface PortBinding {
  readonly containerPort: string
  readonly hostIp: string
  /** Empty: a port the engine chooses. */
  readonly hostPort: string
}

const PORT = /^\d{1,5}$/
const PROTOCOLS = new Set(['tcp', 'udp', 'sctp'])
/** `[ip:][hostPort:]containerPort[/protocol]`, the IP possibly in brackets (IPv6). */
const PUBLISH = /^(?:(\[[0-9a-fA-F:.]+\]|\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d*):)?(\d+)(?:\/(\w+))?$/
const ENV_KEY = /^[^=\s]+$/
/** A Docker object name, as the manifest's schema checks it. */
const OBJECT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

/**
 * Parses one `--publish` value.
 *
 * @param spec - `[ip:][hostPort:]containerPort[/protocol]`, e.g. `127.0.0.1:8080:80/tcp`.
 * @return the binding.
 * @throws TransshipError `INVALID_OPTION`, naming `--publish` and the value.
 */
export function parsePublish(spec: string): PortBinding {
  const match = PUBLISH.exec(spec)
  const invalid = (why: string) =>
    new TransshipError(
      'INVALID_OPTION',
      `--publish ${spec}: ${why}; expected [ip:][hostPort:]containerPort[/protocol], e.g. 8080:80 or 127.0.0.1:8080:80/tcp`,
    )
  if (!match) throw invalid('not a port binding')
  const [, ip = '', hostPort = '', containerPort = '', protocol = 'tcp'] = match
  for (const port of [hostPort, containerPort]) {
    if (port !== '' && (!PORT.test(port) || Number(port) < 1 || Number(port) > 65535)) {
      throw invalid(`${port} is not a port (1 to 65535)`)
    }
  }
  if (!PROTOCOLS.has(protocol)) throw invalid(`${protocol} is not tcp, udp or sctp`)
  return {
    containerPort: `${containerPort}/${protocol}`,
    hostIp: ip.replace(/^\[|\]$/g, ''),
    hostPort,
  }
}

/**
 * Parses a `KEY=VALUE` or `OLD=NEW` value of a repeatable flag.
 *
 * @param flag - the flag, for errors, e.g. `--env`.
 * @param value - the value.
 * @return the key (or old name) and the value (or new name).
 * @throws TransshipError `INVALID_OPTION`, naming the flag and the value.
 */
export function parseAssignment(flag: string, value: string): [string, string] {
  const at = value.indexOf('=')
  if (at <= 0) {
    throw new TransshipError(
      'INVALID_OPTION',
      `${flag} ${value}: expected ${flag === '--env' ? 'KEY=VALUE' : 'OLD=NEW'}`,
    )
  }
  return [value.slice(0, at), value.slice(at + 1)]
}

/**
 * The source as the target is to be: its configuration with `changes` applied (the
 * environment, the port bindings, the networks' names). The source's own record is left
 * as it was.
 *
 * @param source - the source container.
 * @param changes - what the target changes.
 * @return the record the target is created from.
 * @throws TransshipError `INVALID_OPTION` for an environment key that cannot be one, a
 *   network the container is not attached to, or a new name the engine would refuse.
 */
export function changedSource<Source extends SourceContainer>(
  source: Source,
  changes: TargetChanges | undefined,
): Source {
  if (!changes) return source
  let { config, hostConfig, networks } = source
  if (changes.env && Object.keys(changes.env).length > 0) {
    config = { ...config, Env: withEnv(config.Env, changes.env) }
  }
  if (changes.publish) {
    const bindings = changes.publish.map(parsePublish)
    const exposed = { ...(config.ExposedPorts as Record<string, object> | undefined) }
    const portBindings: Record<string, { HostIp: string; HostPort: string }[]> = {}
    for (const binding of bindings) {
      exposed[binding.containerPort] = {}
      portBindings[binding.containerPort] = [
        ...(portBindings[binding.containerPort] ?? []),
        { HostIp: binding.hostIp, HostPort: binding.hostPort },
      ]
    }
    config = { ...config, ExposedPorts: exposed }
    hostConfig = { ...hostConfig, PortBindings: portBindings }
  }
  for (const [old, renamed] of Object.entries(changes.networks ?? {})) {
    if (!networks.some((network) => network.name === old)) {
      throw new TransshipError(
        'INVALID_OPTION',
        `--network ${old}=${renamed}: ${source.name} is not attached to a network ${old} (its networks: ${namesOf(networks)})`,
      )
    }
    if (!NETWORK_NAME.test(renamed)) {
      throw new TransshipError(
        'INVALID_OPTION',
        `--network ${old}=${renamed}: ${renamed} is not a network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)`,
      )
    }
    networks = networks.map((network) =>
      network.name === old ? renamedNetwork(network, renamed) : network,
    )
    if (hostConfig.NetworkMode === old) hostConfig = { ...hostConfig, NetworkMode: renamed }
  }
  return { ...source, config, hostConfig, networks }
}

/**
 * The destination's volume names that `changes` chooses, by source volume name.
 *
 * @param volumes - the source's volumes (the ones the migration carries).
 * @param changes - what the target changes.
 * @return new name by source volume name.
 * @throws TransshipError `INVALID_OPTION` for a name or mount path of no volume carried,
 *   or a new name the engine would refuse.
 */
export function volumeNameChanges(
  volumes: readonly VolumeRecord[],
  changes: TargetChanges | undefined,
): Record<string, string> {
  const renames: Record<string, string> = {}
  for (const [old, renamed] of Object.entries(changes?.volumeNames ?? {})) {
    const volume = volumes.find((v) => v.name === old || v.destination === old)
    if (!volume) {
      const carried = volumes.map((v) => `${v.name} at ${v.destination}`).join(', ') || 'none'
      throw new TransshipError(
        'INVALID_OPTION',
        `--volume-name ${old}=${renamed}: no volume carried is named or mounted at ${old} (the volumes: ${carried})`,
      )
    }
    if (!OBJECT_NAME.test(renamed)) {
      throw new TransshipError(
        'INVALID_OPTION',
        `--volume-name ${old}=${renamed}: ${renamed} is not a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)`,
      )
    }
    renames[volume.name] = renamed
  }
  return renames
}

/** `Env` with each key of `env` set: replaced where the source has it, else added. */
function withEnv(current: unknown, env: Readonly<Record<string, string>>): string[] {
  for (const key of Object.keys(env)) {
    if (!ENV_KEY.test(key)) {
      throw new TransshipError('INVALID_OPTION', `--env ${key}: not an environment variable name`)
    }
  }
  const kept = (Array.isArray(current) ? (current as string[]) : []).filter(
    (entry) => !Object.hasOwn(env, entry.split('=', 1)[0] ?? ''),
  )
  return [...kept, ...Object.entries(env).map(([key, value]) => `${key}=${value}`)]
}

/**
 * A network under another name. One of the engine's own (`bridge`, …) becomes a plain
 * user-defined bridge network: its settings belong to that engine.
 */
function renamedNetwork(network: NetworkRecord, name: string): NetworkRecord {
  if (!network.builtin) return { ...network, name }
  return { name, builtin: false, driver: 'bridge', aliases: network.aliases }
}

function namesOf(networks: readonly NetworkRecord[]): string {
  return networks.map((network) => network.name).join(', ') || 'none'
}

/**
 * What `changes` makes of the target, one line each, for plans: the port bindings, the
 * variables set, the networks and volumes under another name.
 *
 * @param source - the source container.
 * @param volumes - the volumes carried.
 * @param changes - what the target changes.
 * @return the lines, e.g. `ports published instead of the source's: 80/tcp on 127.0.0.1:8080`.
 */
export function describeChanges(
  source: SourceContainer,
  volumes: readonly VolumeRecord[],
  changes: TargetChanges | undefined,
): string[] {
  if (!changes) return []
  const lines: string[] = []
  if (changes.publish) {
    const bindings = changes.publish.map(parsePublish)
    lines.push(
      bindings.length === 0
        ? 'no port published'
        : `ports published instead of the source's: ${bindings.map(describeBinding).join(', ')}`,
    )
  }
  for (const key of Object.keys(changes.env ?? {})) {
    const had = (Array.isArray(source.config.Env) ? (source.config.Env as string[]) : []).some(
      (entry) => entry.startsWith(`${key}=`),
    )
    lines.push(`environment ${key} ${had ? 'changed' : 'added'}`)
  }
  for (const [old, renamed] of Object.entries(changes.networks ?? {})) {
    lines.push(`network ${old} joined as ${renamed}`)
  }
  const renames = volumeNameChanges(volumes, changes)
  for (const volume of volumes) {
    const renamed = renames[volume.name]
    if (renamed) lines.push(`volume ${volume.name} (at ${volume.destination}) made as ${renamed}`)
  }
  return lines
}

/** What changes make of a target, for a plan; {@link previewChanges}. */
export interface ChangesPreview<Source extends SourceContainer> {
  /** The record the target would be created from (the source's, when the changes do not apply). */
  readonly target: Source
  /** The volumes' names at the destination, by source volume name. */
  readonly volumeNames: Record<string, string>
  /** The changes, one line each ({@link describeChanges}). */
  readonly lines: string[]
  /** Why the changes cannot apply, when they cannot. */
  readonly problem?: string
}

/**
 * The target that `changes` would make, for a plan, which reports a change that cannot
 * apply as a problem rather than failing.
 *
 * @param source - the source container.
 * @param volumes - the volumes carried.
 * @param changes - what the target changes.
 * @return the target, the volume names and the lines; or the source as it is and why not.
 */
export function previewChanges<Source extends SourceContainer>(
  source: Source,
  volumes: readonly VolumeRecord[],
  changes: TargetChanges | undefined,
): ChangesPreview<Source> {
  try {
    return {
      target: changedSource(source, changes),
      volumeNames: volumeNameChanges(volumes, changes),
      lines: describeChanges(source, volumes, changes),
    }
  } catch (error) {
    return { target: source, volumeNames: {}, lines: [], problem: messageOf(error) }
  }
}

function describeBinding(binding: PortBinding): string {
  const host = `${binding.hostIp || '0.0.0.0'}:${binding.hostPort || '(any port)'}`
  return `${binding.containerPort} on ${host}`
}
