import { TransshipError } from '../errors.js'

/** The socket path Docker listens on by default, locally and on an SSH host. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

/** A Docker engine's address, as parsed from an engine URL. */
export type EngineEndpoint = UnixEndpoint | TcpEndpoint | SshEndpoint

/** An engine on a local unix socket: `unix:///var/run/docker.sock`. */
export interface UnixEndpoint {
  readonly protocol: 'unix'
  /** The URL this endpoint was parsed from. */
  readonly url: string
  /** Absolute path of the engine's socket. */
  readonly socketPath: string
}

/** An engine listening on TCP, plain or TLS: `tcp://host:2376`. */
export interface TcpEndpoint {
  readonly protocol: 'tcp'
  /** The URL this endpoint was parsed from. */
  readonly url: string
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string
  /** Port, when the URL names one; Docker's default is 2375 plain, 2376 with TLS. */
  readonly port: number | undefined
}

/** An engine reached through SSH: `ssh://user@host:port/path/of/docker.sock`. */
export interface SshEndpoint {
  readonly protocol: 'ssh'
  /** The URL this endpoint was parsed from. */
  readonly url: string
  /** Host name, IP address or `~/.ssh/config` alias. */
  readonly host: string
  /** SSH port, when the URL names one. */
  readonly port: number | undefined
  /** SSH user, when the URL names one. */
  readonly username: string | undefined
  /** Path of the engine's socket on the SSH host; {@link DEFAULT_DOCKER_SOCKET} by default. */
  readonly socketPath: string
}

/**
 * The engine URL to use when none is given: `DOCKER_HOST`, else the local default socket.
 *
 * ## Example
 * ```ts
 * defaultEngineUrl({ DOCKER_HOST: 'tcp://10.0.0.5:2376' }) // 'tcp://10.0.0.5:2376'
 * defaultEngineUrl({}) // 'unix:///var/run/docker.sock'
 * ```
 *
 * @param env - the environment to read `DOCKER_HOST` from.
 * @return an engine URL.
 */
export function defaultEngineUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || `unix://${DEFAULT_DOCKER_SOCKET}`
}

/**
 * Parses an engine URL: `unix:///path`, `tcp://host[:port]` or
 * `ssh://[user@]host[:port][/remote/socket/path]`.
 *
 * ## Example
 * ```ts
 * parseEngineUrl('ssh://root@10.0.0.2:2222/run/docker.sock')
 * // { protocol: 'ssh', host: '10.0.0.2', port: 2222, username: 'root',
 * //   socketPath: '/run/docker.sock', url: '...' }
 * ```
 *
 * @param url - the engine URL.
 * @return the endpoint it names.
 * @throws TransshipError `ENGINE_URL_INVALID`, naming the URL and what is wrong with it.
 */
export function parseEngineUrl(url: string): EngineEndpoint {
  const notAUrl = 'expected unix:///path, tcp://host:port or ssh://[user@]host'
  if (!url.includes('://')) throw invalidUrl(url, notAUrl)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    throw invalidUrl(url, notAUrl, error)
  }
  if (parsed.password) {
    throw invalidUrl(url, 'passwords in engine URLs are not supported')
  }
  if (parsed.search || parsed.hash) {
    throw invalidUrl(url, 'query strings and fragments are not supported')
  }
  switch (parsed.protocol) {
    case 'unix:':
      return parseUnix(url, parsed)
    case 'tcp:':
      return parseTcp(url, parsed)
    case 'ssh:':
      return parseSsh(url, parsed)
    default:
      throw invalidUrl(
        url,
        `unsupported scheme "${parsed.protocol}" (use unix://, tcp:// or ssh://)`,
      )
  }
}

function parseUnix(url: string, parsed: URL): UnixEndpoint {
  if (parsed.host || parsed.username) {
    throw invalidUrl(
      url,
      'a unix:// URL takes an absolute socket path: unix:///var/run/docker.sock',
    )
  }
  const socketPath = decodeURIComponent(parsed.pathname)
  if (socketPath === '' || socketPath === '/') {
    throw invalidUrl(url, 'missing socket path, e.g. unix:///var/run/docker.sock')
  }
  return { protocol: 'unix', url, socketPath }
}

function parseTcp(url: string, parsed: URL): TcpEndpoint {
  if (!parsed.hostname) throw invalidUrl(url, 'missing host, e.g. tcp://docker.example:2376')
  if (parsed.username) throw invalidUrl(url, 'a tcp:// URL takes no user')
  if (parsed.pathname !== '' && parsed.pathname !== '/') {
    throw invalidUrl(url, 'a tcp:// URL takes no path')
  }
  return { protocol: 'tcp', url, host: unbracket(parsed.hostname), port: portOf(parsed) }
}

function parseSsh(url: string, parsed: URL): SshEndpoint {
  if (!parsed.hostname) throw invalidUrl(url, 'missing host, e.g. ssh://user@host')
  const path = decodeURIComponent(parsed.pathname)
  return {
    protocol: 'ssh',
    url,
    host: unbracket(parsed.hostname),
    port: portOf(parsed),
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    socketPath: path === '' || path === '/' ? DEFAULT_DOCKER_SOCKET : path,
  }
}

function portOf(parsed: URL): number | undefined {
  return parsed.port ? Number(parsed.port) : undefined
}

function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
}

function invalidUrl(url: string, reason: string, cause?: unknown): TransshipError {
  return new TransshipError(
    'ENGINE_URL_INVALID',
    `invalid engine URL "${redact(url)}": ${reason}`,
    {
      cause,
    },
  )
}

/** The URL with any password replaced, so it can be shown in a message. */
function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^/@:]*):[^/@]*@/i, '$1:REDACTED@')
}
