import type Dockerode from 'dockerode'
import { NO_COPY } from '../engine/helperContainer.js'
import type {
  NetworkRecord,
  SkippedMount,
  SourceContainer,
  VolumeRecord,
} from '../manifest/schema.js'

/** What the target is created from, beyond the source's own configuration. */
export interface TargetInputs {
  readonly source: SourceContainer
  readonly name: string
  /** The image to create it from: the source's reference, or its ID. */
  readonly image: string
  readonly volumes: readonly VolumeRecord[]
  /** Volume names at the destination, by source volume name. */
  readonly restoredVolumes: Readonly<Record<string, string>>
  readonly skippedMounts: readonly SkippedMount[]
  /**
   * In a group: each other member's target name, by its source id and name. References to
   * them (links, `container:` namespaces, `--volumes-from`) are carried, pointing at their
   * targets, which are made first.
   */
  readonly peers?: Readonly<Record<string, string>>
}

/** The create request, and what could not be carried. */
export interface TargetConfig {
  readonly create: Dockerode.ContainerCreateOptions
  /** Networks to connect after create (an engine of API < 1.44 takes one at create). */
  readonly moreNetworks: readonly NetworkRecord[]
  readonly warnings: readonly string[]
}

/** HostConfig fields rebuilt here, or meaningless on another host. */
const REBUILT_HOST_CONFIG = ['Binds', 'Mounts', 'VolumesFrom', 'Links', 'ContainerIDFile'] as const

/** Modes that may point at another container (`container:<id>`), which is not migrated. */
const SHARED_NAMESPACE_MODES = [
  'NetworkMode',
  'IpcMode',
  'PidMode',
  'UTSMode',
  'UsernsMode',
  'CgroupnsMode',
] as const

/**
 * The target's create request: the source's `Config` and `HostConfig` as they are (image,
 * command, entrypoint, env, working dir, user, labels, hostname, ports and port bindings,
 * extra hosts, resources, healthcheck, stop signal and timeout, tty/stdin, capabilities,
 * security options, tmpfs, …) with the mounts rebuilt for the restored volumes, the
 * original restart policy, and the networks by name. What refers to other containers
 * (links, `--volumes-from`, `container:` namespace modes) is carried when they are peers in
 * a group (pointing at their targets); otherwise it is left out with a warning.
 *
 * @param inputs - the source and what the restore made.
 * @return the create request, networks to connect afterwards, and warnings.
 */
export function targetConfig(inputs: TargetInputs): TargetConfig {
  const { source } = inputs
  const warnings: string[] = []
  const hostConfig: Record<string, unknown> = { ...source.hostConfig }
  for (const field of REBUILT_HOST_CONFIG) delete hostConfig[field]
  const peer = peerOf(inputs.peers ?? {})
  // A group member's volumes are mounted by name (below): its peers' need no --volumes-from.
  const volumesFrom = ((source.hostConfig.VolumesFrom as string[] | null) ?? []).filter(
    (from) => peer(from.split(':')[0] as string) === undefined,
  )
  if (volumesFrom.length > 0) {
    warnings.push(
      `--volumes-from ${String(volumesFrom)} is not carried: migrate those containers' volumes on their own`,
    )
  }
  const carried: string[] = []
  const dropped: string[] = []
  for (const link of (source.hostConfig.Links as string[] | null) ?? []) {
    // As inspect shows them: `/redis:/app/db`, the linked container, then the alias.
    const [linked = '', alias = ''] = link.split(':')
    const target = peer(linked.replace(/^\//, ''))
    if (target === undefined) dropped.push(link)
    else carried.push(`${target}:${alias.slice(alias.lastIndexOf('/') + 1)}`)
  }
  if (carried.length > 0) hostConfig.Links = carried
  if (dropped.length > 0) {
    warnings.push(`legacy links (${String(dropped)}) are not carried: use a user-defined network`)
  }
  for (const mode of SHARED_NAMESPACE_MODES) {
    const value = hostConfig[mode]
    if (typeof value !== 'string' || !value.startsWith('container:')) continue
    const target = peer(value.slice('container:'.length))
    if (target !== undefined) {
      hostConfig[mode] = `container:${target}`
      continue
    }
    delete hostConfig[mode]
    warnings.push(`${mode} ${value} is not carried: that container is not migrated with it`)
  }
  if ((source.hostConfig.Devices as unknown[] | null)?.length) {
    warnings.push('host devices are carried as configured: they must exist at the destination')
  }

  const mounts: Dockerode.MountSettings[] = inputs.volumes.map((volume) => ({
    Type: 'volume',
    Source: inputs.restoredVolumes[volume.name] ?? volume.name,
    Target: volume.destination,
    ReadOnly: volume.readOnly,
    // The content came from the source: the image's files must not be copied in.
    VolumeOptions: NO_COPY,
  }))
  for (const mount of inputs.skippedMounts) {
    if (mount.type === 'bind' && mount.source) {
      mounts.push({
        Type: 'bind',
        Source: mount.source,
        Target: mount.destination,
        ReadOnly: mount.readOnly,
      })
    }
  }

  const [first, ...moreNetworks] = source.networks
  const config = { ...(source.config as Dockerode.ContainerCreateOptions) }
  if (String(hostConfig.NetworkMode).startsWith('container:')) {
    // Inspect shows the namespace owner's names here; the engine refuses them at create.
    delete config.Hostname
    delete config.Domainname
  }
  const create: Dockerode.ContainerCreateOptions = {
    ...config,
    name: inputs.name,
    Image: inputs.image,
    HostConfig: {
      ...(hostConfig as Dockerode.HostConfig),
      Mounts: mounts,
      RestartPolicy: source.restartPolicy as Dockerode.HostRestartPolicy,
    },
    ...(first
      ? { NetworkingConfig: { EndpointsConfig: { [first.name]: endpointConfig(first) } } }
      : {}),
  }
  return { create, moreNetworks, warnings }
}

/**
 * The container's endpoint on a network: its aliases and static addresses.
 *
 * @param network - the network record.
 * @return the endpoint settings for create or connect.
 */
export function endpointConfig(network: NetworkRecord): Dockerode.EndpointSettings {
  const ipam = {
    ...(network.ipv4Address ? { IPv4Address: network.ipv4Address } : {}),
    ...(network.ipv6Address ? { IPv6Address: network.ipv6Address } : {}),
  }
  return {
    ...(network.aliases.length > 0 ? { Aliases: network.aliases } : {}),
    ...(Object.keys(ipam).length > 0 ? { IPAMConfig: ipam } : {}),
  }
}

/** Finds a group peer's target by a reference to it: its name, id, or an id prefix (12+). */
function peerOf(peers: Readonly<Record<string, string>>) {
  return (ref: string): string | undefined =>
    peers[ref] ??
    (ref.length >= 12
      ? Object.entries(peers).find(
          ([key]) => /^[0-9a-f]{64}$/.test(key) && key.startsWith(ref),
        )?.[1]
      : undefined)
}
