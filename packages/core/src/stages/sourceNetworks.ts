import type Dockerode from 'dockerode'
import type { EngineClient } from '../engine/client.js'
import type { NetworkRecord } from '../manifest/schema.js'

/** Networks every engine has, which are never created. */
export const BUILTIN_NETWORKS = new Set(['bridge', 'host', 'none'])

/**
 * The networks a container is attached to: its endpoint on each (aliases, static
 * addresses), and for user-defined ones the network's own settings, so that a destination
 * that lacks the network can create the same one.
 *
 * @param engine - the container's engine.
 * @param container - the container's inspect output.
 * @return one record per network, in inspect's order.
 */
export async function sourceNetworks(
  engine: EngineClient,
  container: Dockerode.ContainerInspectInfo,
): Promise<NetworkRecord[]> {
  const records: NetworkRecord[] = []
  for (const [name, endpoint] of Object.entries(container.NetworkSettings.Networks ?? {})) {
    const ipam = (
      endpoint as { IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null }
    ).IPAMConfig
    const endpointRecord = {
      name,
      // Docker adds the container's short id as an alias on user-defined networks by itself.
      aliases: ((endpoint.Aliases ?? []) as string[]).filter(
        (alias) => !container.Id.startsWith(alias),
      ),
      ...(ipam?.IPv4Address ? { ipv4Address: ipam.IPv4Address } : {}),
      ...(ipam?.IPv6Address ? { ipv6Address: ipam.IPv6Address } : {}),
    }
    if (BUILTIN_NETWORKS.has(name)) {
      records.push({ ...endpointRecord, builtin: true })
      continue
    }
    const network = await engine.call(`inspect network ${name}`, (docker) =>
      docker.getNetwork(name).inspect(),
    )
    records.push({
      ...endpointRecord,
      builtin: false,
      driver: network.Driver,
      options: network.Options ?? {},
      labels: network.Labels ?? {},
      internal: network.Internal ?? false,
      attachable: network.Attachable ?? false,
      enableIPv6: network.EnableIPv6 ?? false,
      ipam: {
        driver: network.IPAM?.Driver ?? 'default',
        options: network.IPAM?.Options ?? {},
        config: (network.IPAM?.Config ?? []) as Record<string, string>[],
      },
    })
  }
  return records
}
