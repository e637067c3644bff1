import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import type { NetworkRecord } from '../manifest/schema.js'

/**
 * What to do when a user-defined network of the source is missing at the destination:
 * `create` it with the same driver, options and IPAM settings (the default), or `fail`.
 */
export type OnMissingNetwork = 'create' | 'fail'

/**
 * The source's user-defined networks that the destination lacks.
 *
 * @param engine - the destination engine.
 * @param networks - the source's networks.
 * @return the missing ones.
 */
export async function missingNetworks(
  engine: EngineClient,
  networks: readonly NetworkRecord[],
): Promise<NetworkRecord[]> {
  const existing = new Set(
    (await engine.call('list networks', (docker) => docker.listNetworks())).map((n) => n.Name),
  )
  return networks.filter((network) => !network.builtin && !existing.has(network.name))
}

/**
 * Refuses missing networks when the user chose `fail`.
 *
 * @throws TransshipError `NETWORK_MISSING`, naming the networks and `--on-missing-network`.
 */
export function assertNoneMissing(engine: EngineClient, missing: readonly NetworkRecord[]): void {
  if (missing.length === 0) return
  throw new TransshipError(
    'NETWORK_MISSING',
    `network${missing.length > 1 ? 's' : ''} ${missing.map((n) => n.name).join(', ')} missing on ${engine.url}; create ${missing.length > 1 ? 'them' : 'it'} there, or pass --on-missing-network create`,
  )
}

/**
 * Creates a network at the destination with the source network's settings.
 *
 * @param engine - the destination engine.
 * @param network - the source's network.
 * @return the new network's id.
 */
export async function createNetwork(engine: EngineClient, network: NetworkRecord): Promise<string> {
  const created = await engine.call(`create network ${network.name}`, (docker) =>
    docker.createNetwork({
      Name: network.name,
      CheckDuplicate: true,
      ...(network.driver ? { Driver: network.driver } : {}),
      Options: network.options ?? {},
      Labels: network.labels ?? {},
      Internal: network.internal ?? false,
      Attachable: network.attachable ?? false,
      EnableIPv6: network.enableIPv6 ?? false,
      ...(network.ipam
        ? {
            IPAM: {
              Driver: network.ipam.driver,
              Options: network.ipam.options,
              Config: network.ipam.config,
            },
          }
        : {}),
    }),
  )
  return created.id
}
