import { randomBytes } from 'node:crypto'
import type Dockerode from 'dockerode'
import { type EngineClient, shortId } from '../../engine/client.js'
import type { TargetRecord } from '../../pipeline/state.js'

/**
 * Replaces a created, never-started container by one made from another image, with the
 * same name and the same configuration as the engine reports it (`Config`, `HostConfig`,
 * networks with their aliases, links and static addresses). The original is renamed aside
 * until the new one exists, so that any failure puts it back as it was; once the new one
 * is made, the original is removed (with its anonymous volumes, none of which holds data
 * yet; named volumes stay).
 *
 * @param engine - the engine.
 * @param target - the container to replace.
 * @param image - the image the new container is made from.
 * @return the new container's id.
 */
export async function replaceTarget(
  engine: EngineClient,
  target: TargetRecord,
  image: string,
): Promise<string> {
  const inspect = await engine.inspectContainer(target.id)
  const config: Dockerode.ContainerCreateOptions = { ...inspect.Config, Image: image }
  // A hostname the engine made up from the id would outlive the id.
  if (config.Hostname === inspect.Id.slice(0, 12)) delete config.Hostname
  const networks = Object.entries(inspect.NetworkSettings.Networks ?? {}).map(
    ([name, settings]) => [name, endpoint(settings, inspect.Id)] as const,
  )
  const mode = inspect.HostConfig.NetworkMode
  const first = networks.find(([name]) => name === mode) ?? networks[0]
  const aside = `${target.name}-transship-replaced-${randomBytes(3).toString('hex')}`
  await rename(engine, target.id, aside)
  let id: string | undefined
  try {
    id = await engine.createContainer({
      ...config,
      name: target.name,
      HostConfig: inspect.HostConfig,
      ...(first ? { NetworkingConfig: { EndpointsConfig: { [first[0]]: first[1] } } } : {}),
    })
    for (const [network, settings] of networks) {
      if (network === first?.[0]) continue
      const created = id
      await engine.call(`connect ${shortId(created)} to network ${network}`, (docker) =>
        docker.getNetwork(network).connect({ Container: created, EndpointConfig: settings }),
      )
    }
  } catch (error) {
    if (id !== undefined) await engine.removeContainer(id).catch(() => {})
    await rename(engine, target.id, target.name).catch(() => {})
    throw error
  }
  await engine.removeContainer(target.id)
  return id
}

/** The settings a container's endpoint was created with, as create and connect take them. */
function endpoint(settings: Dockerode.EndpointSettings, id: string): Dockerode.EndpointSettings {
  // The engine adds the short id as an alias of its own.
  const aliases = (settings.Aliases ?? []).filter((alias) => alias !== id.slice(0, 12))
  return {
    ...(settings.IPAMConfig ? { IPAMConfig: settings.IPAMConfig } : {}),
    ...(settings.Links?.length ? { Links: settings.Links } : {}),
    ...(aliases.length > 0 ? { Aliases: aliases } : {}),
    ...(settings.DriverOpts ? { DriverOpts: settings.DriverOpts } : {}),
  }
}

async function rename(engine: EngineClient, id: string, name: string): Promise<void> {
  await engine.call(`rename container ${shortId(id)} to ${name}`, (docker) =>
    docker.getContainer(id).rename({ name }),
  )
}
