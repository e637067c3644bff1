import { performance } from 'node:perf_hooks'
import createDebug from 'debug'
import type Dockerode from 'dockerode'
import { messageOf, TransshipError } from '../errors.js'
import { connectSsh, type SshConnection } from '../ssh/connect.js'
import type { SshOptions } from '../ssh/options.js'
import type {} from './dockerodeCheckpoints.js'
import { SshForwardAgent } from './sshForwardAgent.js'
import { type EngineTlsOptions, readTlsMaterial, tlsFromEnvironment } from './tls.js'
import { defaultEngineUrl, type EngineEndpoint, parseEngineUrl } from './url.js'

const debug = createDebug('transship:engine')

/** How to reach an engine, beyond its URL. */
export interface EngineOptions {
  /**
   * TLS files for a `tcp://` engine. When no URL is given and `DOCKER_HOST` is used,
   * `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` apply unless this is set.
   */
  readonly tls?: EngineTlsOptions
  /** SSH settings for an `ssh://` engine; host, port and user come from the URL. */
  readonly ssh?: Omit<SshOptions, 'host' | 'port' | 'username'>
}

/** The fields of `GET /info` transship reads; the engine sends many more. */
export interface EngineInfo {
  /** The engine's unique ID. */
  readonly ID: string
  /** The engine host's name. */
  readonly Name: string
  readonly ServerVersion: string
  /** Storage driver, e.g. `overlay2`. */
  readonly Driver: string
  /** The engine's data root, e.g. `/var/lib/docker`. */
  readonly DockerRootDir: string
  /** Whether the engine runs with `--experimental` (needed for checkpoints). */
  readonly ExperimentalBuild: boolean
  readonly [field: string]: unknown
}

/**
 * Opens a Docker engine by URL. An `ssh://` engine gets one SSH connection that carries
 * every request (dockerode's own ssh mode opens a connection per request).
 *
 * ## Example
 * ```ts
 * const engine = await connectEngine('ssh://root@10.0.0.2/var/run/docker.sock')
 * try {
 *   console.log((await engine.info()).ServerVersion)
 * } finally {
 *   await engine.close()
 * }
 * ```
 *
 * @param url - `unix://`, `tcp://` or `ssh://` engine URL; `DOCKER_HOST`, else the local
 *   socket, by default.
 * @param options - TLS and SSH settings.
 * @return the engine client; close it when done.
 * @throws TransshipError `ENGINE_URL_INVALID`, `ENGINE_TLS_INVALID`, or one of
 *   {@link connectSsh}'s `SSH_*` errors for an `ssh://` engine.
 */
export async function connectEngine(
  url?: string,
  options: EngineOptions = {},
): Promise<EngineClient> {
  const endpoint = parseEngineUrl(url ?? defaultEngineUrl())
  switch (endpoint.protocol) {
    case 'unix':
      return new EngineClient(endpoint, await dockerode({ socketPath: endpoint.socketPath }))
    case 'tcp': {
      const tls = options.tls ?? (url === undefined ? tlsFromEnvironment() : undefined)
      const material = tls ? readTlsMaterial(tls, endpoint.url) : undefined
      return new EngineClient(
        endpoint,
        await dockerode({
          host: endpoint.host,
          port: endpoint.port ?? (tls ? 2376 : 2375),
          protocol: tls ? 'https' : 'http',
          ...material,
        }),
      )
    }
    case 'ssh': {
      const ssh = await connectSsh({
        ...options.ssh,
        host: endpoint.host,
        port: endpoint.port,
        username: endpoint.username,
      })
      const agent = new SshForwardAgent(ssh.client, endpoint.socketPath)
      return new EngineClient(
        endpoint,
        await dockerode({ socketPath: endpoint.socketPath, agent }),
        ssh,
      )
    }
  }
}

/**
 * A Docker engine: the dockerode instance, and helpers that log each call (namespace
 * `transship:engine`, with short container ids) and rethrow failures as a
 * {@link TransshipError} naming the engine and the call.
 *
 * ## Example
 * ```ts
 * const engine = await connectEngine('unix:///var/run/docker.sock')
 * try {
 *   const { State } = await engine.inspectContainer('db')
 *   const volumes = await engine.call('list volumes', (docker) => docker.listVolumes())
 * } finally {
 *   await engine.close()
 * }
 * ```
 */
export class EngineClient {
  /** The engine's address. */
  readonly endpoint: EngineEndpoint
  /** The dockerode instance; run calls the helpers do not cover through {@link call}. */
  readonly docker: Dockerode
  readonly #ssh: SshConnection | undefined

  /**
   * @param endpoint - the engine's address.
   * @param docker - a dockerode instance connected to it.
   * @param ssh - the SSH connection it runs over, closed by {@link close}.
   */
  constructor(endpoint: EngineEndpoint, docker: Dockerode, ssh?: SshConnection) {
    this.endpoint = endpoint
    this.docker = docker
    this.#ssh = ssh
  }

  /** The engine URL, for messages. */
  get url(): string {
    return this.endpoint.url
  }

  /**
   * Runs one Docker call: logs it, times it, and rethrows its failure with context.
   *
   * ## Example
   * ```ts
   * const volumes = await engine.call('list volumes', (docker) => docker.listVolumes())
   * ```
   *
   * @param action - what the call does, for log lines and errors, e.g.
   *   `inspect container abc123def456`.
   * @param run - the call.
   * @return what the call returns.
   * @throws TransshipError `ENGINE_NOT_FOUND` (HTTP 404), `ENGINE_CONFLICT` (HTTP 409: the
   *   name is taken, the object in use), `ENGINE_UNREACHABLE` (no answer from the engine)
   *   or `ENGINE_CALL_FAILED`, with the original error as `cause`.
   */
  async call<T>(action: string, run: (docker: Dockerode) => Promise<T>): Promise<T> {
    debug('%s: %s', this.url, action)
    const started = performance.now()
    const elapsed = () => Math.round(performance.now() - started)
    try {
      const result = await run(this.docker)
      debug('%s: %s: done in %d ms', this.url, action, elapsed())
      return result
    } catch (error) {
      debug('%s: %s: failed after %d ms: %s', this.url, action, elapsed(), messageOf(error))
      throw engineCallError(this.url, action, error)
    }
  }

  /** @return the engine's `GET /info`. */
  info(): Promise<EngineInfo> {
    return this.call('info', (docker) => docker.info())
  }

  /** @return the engine's `GET /version` (server version, API version, platform). */
  version(): Promise<Dockerode.DockerVersion> {
    return this.call('version', (docker) => docker.version())
  }

  /** @return the images the engine holds. */
  listImages(): Promise<Dockerode.ImageInfo[]> {
    return this.call('list images', (docker) => docker.listImages())
  }

  /**
   * Creates a container. An abort does not cut the request short: the engine may have made
   * the container already, and nobody would learn its id to remove it. The container is
   * removed once made instead, and the abort's reason thrown.
   *
   * @param options - the container's configuration; `abortSignal` as described above.
   * @return the new container's id.
   */
  async createContainer(options: Dockerode.ContainerCreateOptions): Promise<string> {
    const { abortSignal, ...create } = options
    abortSignal?.throwIfAborted()
    const container = await this.call(`create container from ${options.Image}`, (docker) =>
      docker.createContainer(create),
    )
    debug('%s: created container %s', this.url, shortId(container.id))
    if (abortSignal?.aborted) {
      await this.removeContainer(container.id)
      abortSignal.throwIfAborted()
    }
    return container.id
  }

  /**
   * Starts a container, from one of its checkpoints when one is named.
   *
   * @param id - container id or name.
   * @param options - `checkpoint`: the name of the container's checkpoint to restore.
   */
  async startContainer(id: string, options: { checkpoint?: string } = {}): Promise<void> {
    const { checkpoint } = options
    const action = checkpoint
      ? `start container ${shortId(id)} from checkpoint ${checkpoint}`
      : `start container ${shortId(id)}`
    await this.call(action, (docker) =>
      docker.getContainer(id).start(checkpoint ? { _query: { checkpoint }, _body: {} } : {}),
    )
  }

  /**
   * @param id - container id or name.
   * @return the container's `GET /containers/{id}/json`.
   */
  inspectContainer(id: string): Promise<Dockerode.ContainerInspectInfo> {
    return this.call(`inspect container ${shortId(id)}`, (docker) =>
      docker.getContainer(id).inspect(),
    )
  }

  /**
   * Checkpoints a running container with CRIU.
   *
   * @param id - container id or name.
   * @param name - the checkpoint's name.
   * @param options - `exit`: stop the container once checkpointed (default true).
   */
  async createCheckpoint(
    id: string,
    name: string,
    options: { exit?: boolean } = {},
  ): Promise<void> {
    await this.call(`checkpoint container ${shortId(id)} as ${name}`, (docker) =>
      docker.getContainer(id).createCheckpoint({ CheckpointID: name, Exit: options.exit ?? true }),
    )
  }

  /**
   * Removes one of a container's checkpoints (from the engine's own checkpoints directory).
   *
   * @param id - container id or name.
   * @param name - the checkpoint's name.
   */
  async removeCheckpoint(id: string, name: string): Promise<void> {
    await this.call(`remove checkpoint ${name} of ${shortId(id)}`, (docker) =>
      docker.getContainer(id).deleteCheckpoint(name),
    )
  }

  /**
   * Removes a container, stopping it first, with its anonymous volumes and checkpoints.
   *
   * @param id - container id or name.
   */
  async removeContainer(id: string): Promise<void> {
    await this.call(`remove container ${shortId(id)}`, (docker) =>
      docker.getContainer(id).remove({ force: true, v: true }),
    )
  }

  /** Ends the SSH connection of an `ssh://` engine; nothing to do for the others. */
  async close(): Promise<void> {
    await this.#ssh?.close()
  }
}

/**
 * For `.catch()` on a call: an object the engine does not know becomes `undefined`; any
 * other failure is thrown again.
 *
 * @param error - the call's failure.
 * @return `undefined` for `ENGINE_NOT_FOUND`.
 */
export function notFoundAsUndefined(error: unknown): undefined {
  if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') return undefined
  throw error
}

/**
 * Awaits a removal, taking an object already gone as removed.
 *
 * @param call - the removal.
 */
export async function ignoringNotFound(call: Promise<unknown>): Promise<void> {
  await call.catch(notFoundAsUndefined)
}

/**
 * A container reference as logs show it: a full 64-character id shortened to 12, as
 * `docker ps` does; a name as it is.
 *
 * ## Example
 * ```ts
 * shortId('4f1c2a9e7b3d' + '0'.repeat(52)) // '4f1c2a9e7b3d'
 * shortId('db') // 'db'
 * ```
 *
 * @param ref - container id or name.
 * @return the short form.
 */
export function shortId(ref: string): string {
  return /^[0-9a-f]{64}$/.test(ref) ? ref.slice(0, 12) : ref
}

/**
 * A dockerode instance configured only by `options`, whatever the environment says.
 * dockerode is loaded on the first connection, not with the module: it loads ssh2 and gRPC,
 * a third of the CLI's start-up, which `transship --help` does not need.
 */
async function dockerode(options: Dockerode.DockerOptions): Promise<Dockerode> {
  const { default: Dockerode } = await import('dockerode')
  // docker-modem fills unset options from DOCKER_HOST and DOCKER_CERT_PATH: the URL decides.
  return new Dockerode({
    socketPath: undefined,
    host: undefined,
    port: undefined,
    protocol: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    ...options,
  })
}

function engineCallError(url: string, action: string, error: unknown): TransshipError {
  const { statusCode, json, code } = (error ?? {}) as {
    statusCode?: unknown
    json?: { message?: unknown }
    code?: unknown
  }
  if (typeof statusCode === 'number') {
    const reason = typeof json?.message === 'string' ? json.message : messageOf(error)
    return new TransshipError(
      statusCode === 404
        ? 'ENGINE_NOT_FOUND'
        : statusCode === 409
          ? 'ENGINE_CONFLICT'
          : 'ENGINE_CALL_FAILED',
      `engine ${url}: ${action} failed: HTTP ${statusCode}: ${reason.trim()}`,
      { cause: error },
    )
  }
  // A system error (ECONNREFUSED, ENOENT...) or a refused SSH channel: no answer at all.
  const unreachable =
    (typeof code === 'string' && code.startsWith('E')) || messageOf(error).startsWith('(SSH)')
  return new TransshipError(
    unreachable ? 'ENGINE_UNREACHABLE' : 'ENGINE_CALL_FAILED',
    `engine ${url}: ${action} failed: ${messageOf(error)}`,
    { cause: error },
  )
}
