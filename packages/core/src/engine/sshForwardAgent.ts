import { Agent, type ClientRequestArgs } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Client } from 'ssh2'

/**
 * An HTTP agent whose every connection is a stream forwarded over one SSH connection to a
 * unix socket on the SSH host (`direct-streamlocal@openssh.com`), so HTTP requests to a
 * remote Docker engine need no new SSH connection each.
 *
 * ## Example
 * ```ts
 * const ssh = await connectSsh({ host: 'builder' })
 * const docker = new Dockerode({
 *   socketPath: '/var/run/docker.sock',
 *   agent: new SshForwardAgent(ssh.client, '/var/run/docker.sock'),
 * })
 * ```
 */
export class SshForwardAgent extends Agent {
  readonly #client: Client
  readonly #socketPath: string

  /**
   * @param client - a connected ssh2 client.
   * @param socketPath - the unix socket on the SSH host to connect each request to.
   */
  constructor(client: Client, socketPath: string) {
    super()
    this.#client = client
    this.#socketPath = socketPath
  }

  /**
   * Opens a forwarded stream to the remote socket.
   *
   * @param _options - the request's connection options (the socket is fixed).
   * @param callback - receives the stream, or the channel-open error.
   * @return undefined: the stream is passed to `callback` once open.
   */
  override createConnection(
    _options: ClientRequestArgs,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): undefined {
    this.#client.openssh_forwardOutStreamLocal(this.#socketPath, (error, channel) =>
      callback?.(error ?? null, channel),
    )
    return undefined
  }
}
