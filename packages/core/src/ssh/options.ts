import { existsSync, readFileSync } from 'node:fs'
import { homedir, userInfo } from 'node:os'
import { join } from 'node:path'
import SSHConfig from 'ssh-config'
import type { Algorithms } from 'ssh2'
import { messageOf, TransshipError } from '../errors.js'

/** How to reach and authenticate to an SSH server. */
export interface SshOptions {
  /** Host name, IP address, or a `Host` alias of the SSH config file. */
  readonly host: string
  /** Port; by default the config file's `Port`, else 22. */
  readonly port?: number
  /** User; by default the config file's `User`, else the local user's name. */
  readonly username?: string
  /**
   * Private key files to try, in order; each must exist and be readable. By default the
   * config file's `IdentityFile`s, else those of `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`
   * that exist.
   */
  readonly identityFiles?: readonly string[]
  /** Passphrase for encrypted private keys. */
  readonly passphrase?: string
  /** SSH agent socket to try first; `SSH_AUTH_SOCK` by default, `false` for none. */
  readonly agent?: string | false
  /**
   * `known_hosts` file holding the server's key; by default the config file's
   * `UserKnownHostsFile`, else `~/.ssh/known_hosts` and `/etc/ssh/ssh_known_hosts`.
   */
  readonly knownHostsPath?: string
  /**
   * Refuse servers whose host key is not in `known_hosts` (default true). Setting it to
   * false accepts any host key: an explicit opt-out, for throwaway test hosts only.
   */
  readonly strictHostKeyChecking?: boolean
  /** The OpenSSH client config file to resolve `host` in; `~/.ssh/config` by default. */
  readonly configPath?: string
  /**
   * Jump hosts to reach the server through, as OpenSSH's `ProxyJump`: `[user@]host[:port]`
   * each (aliases of the config file allowed), comma-separated or as a list, the first
   * reached first. By default the config file's `ProxyJump`; `'none'` or `[]` for none.
   */
  readonly proxyJump?: string | readonly string[]
  /**
   * Milliseconds to wait for the connection and handshake; by default the config file's
   * `ConnectTimeout` (in seconds there), else 20 s.
   */
  readonly connectTimeout?: number
  /**
   * ssh2 algorithm preferences (ciphers, key exchange, MACs) instead of ssh2's defaults;
   * host key algorithms are chosen from `known_hosts` whatever this says.
   */
  readonly algorithms?: Algorithms
}

/** A jump host of {@link SshOptions.proxyJump}. */
export interface JumpHost {
  /** Host name, address or config alias. */
  readonly host: string
  readonly port?: number
  readonly username?: string
}

/** A private key file to offer, and whether it must exist. */
export interface IdentityFile {
  readonly path: string
  /** Named explicitly in {@link SshOptions.identityFiles}: missing or unreadable is an error. */
  readonly required: boolean
}

/** {@link SshOptions} with the SSH config file and the defaults applied. */
export interface ResolvedSshOptions {
  /** The host as given (maybe an alias), for messages. */
  readonly host: string
  /** The host name or address actually connected to. */
  readonly hostName: string
  readonly port: number
  readonly username: string
  readonly identityFiles: readonly IdentityFile[]
  readonly passphrase: string | undefined
  readonly agent: string | undefined
  readonly knownHostsPaths: readonly string[]
  readonly strictHostKeyChecking: boolean
  /** The config file given explicitly, which jump hosts are resolved in too. */
  readonly configPath?: string
  /** Jump hosts, the first reached first; absent when the server is reached directly. */
  readonly proxyJump?: readonly JumpHost[]
  /** Milliseconds for the connection and handshake; absent for ssh2's default (20 s). */
  readonly connectTimeout?: number
  readonly algorithms?: Algorithms
}

/** Where the local user's files are; tests give their own. */
export interface LocalUser {
  readonly homeDir: string
  readonly username: string
  readonly env: NodeJS.ProcessEnv
}

const DEFAULT_IDENTITY_FILES = ['id_ed25519', 'id_ecdsa', 'id_rsa']

/**
 * Applies the OpenSSH client config (`HostName`, `User`, `Port`, `IdentityFile`,
 * `UserKnownHostsFile`, `ProxyJump`, `ConnectTimeout` of the matching `Host` sections) and
 * the defaults to SSH options.
 * Explicit options win over the config file, which wins over the defaults.
 *
 * ## Example
 * ```ts
 * // ~/.ssh/config:  Host builder \n HostName 10.0.0.7 \n Port 2222
 * resolveSshOptions({ host: 'builder' }) // { hostName: '10.0.0.7', port: 2222, ... }
 * ```
 *
 * @param options - the SSH options.
 * @param user - the local user's home, name and environment.
 * @return the resolved options.
 * @throws TransshipError `SSH_CONFIG_INVALID` when an explicitly given config file cannot be
 *   read.
 */
export function resolveSshOptions(
  options: SshOptions,
  user: LocalUser = currentUser(),
): ResolvedSshOptions {
  const config = readConfig(options, user)
  const username = options.username ?? first(config.user) ?? user.username
  const rawHostName = first(config.hostname) ?? options.host
  const hostName = expandTokens(rawHostName, { h: options.host })
  const port = options.port ?? numberOf(first(config.port)) ?? 22
  const tokens = {
    d: user.homeDir,
    h: hostName,
    n: options.host,
    p: String(port),
    r: username,
    u: user.username,
  }
  const expand = (path: string) => expandHome(expandTokens(path, tokens), user.homeDir)

  const proxyJump = parseProxyJump(options.proxyJump ?? first(config.proxyjump), options.host)
  const timeoutSeconds = numberOf(first(config.connecttimeout))
  const connectTimeout =
    options.connectTimeout ?? (timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000)

  return {
    host: options.host,
    hostName,
    port,
    username,
    identityFiles: identityFilesOf(options, listOf(config.identityfile).map(expand), user),
    passphrase: options.passphrase,
    agent: options.agent === false ? undefined : (options.agent ?? user.env.SSH_AUTH_SOCK),
    knownHostsPaths: options.knownHostsPath
      ? [options.knownHostsPath]
      : configKnownHosts(listOf(config.userknownhostsfile).map(expand), user),
    strictHostKeyChecking: options.strictHostKeyChecking ?? true,
    // Only what is set: callers compare resolved options without the unset ones.
    ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
    ...(proxyJump.length === 0 ? {} : { proxyJump }),
    ...(connectTimeout === undefined ? {} : { connectTimeout }),
    ...(options.algorithms === undefined ? {} : { algorithms: options.algorithms }),
  }
}

/**
 * Reads OpenSSH `ProxyJump` values: `[user@]host[:port]` or `ssh://[user@]host[:port]`,
 * comma-separated; an IPv6 address goes in brackets; `none` is no jump host.
 *
 * ## Example
 * ```ts
 * parseProxyJump('ops@bastion:2200,inner', 'db')
 * // [{ host: 'bastion', port: 2200, username: 'ops' }, { host: 'inner' }]
 * ```
 *
 * @param value - the setting: a string, a list of specs, or undefined.
 * @param host - the host being resolved, for messages.
 * @return the jump hosts, the first reached first.
 * @throws TransshipError `SSH_CONFIG_INVALID` for a spec that cannot be read.
 */
export function parseProxyJump(
  value: string | readonly string[] | undefined,
  host: string,
): JumpHost[] {
  if (value === undefined) return []
  const specs = (typeof value === 'string' ? [value] : value)
    .flatMap((spec) => spec.split(','))
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '')
  if (specs.length === 1 && specs[0]?.toLowerCase() === 'none') return []
  return specs.map((spec) => {
    const match = /^(?:ssh:\/\/)?(?:([^@/]+)@)?(\[[^\]]+\]|[^:@/[\]]+)(?::(\d+))?\/?$/.exec(spec)
    if (!match?.[2]) {
      throw new TransshipError(
        'SSH_CONFIG_INVALID',
        `ssh ${host}: cannot read the jump host ${JSON.stringify(spec)}: expected [user@]host[:port]`,
      )
    }
    return {
      host: match[2].replace(/^\[(.*)\]$/, '$1'),
      ...(match[3] === undefined ? {} : { port: Number(match[3]) }),
      ...(match[1] === undefined ? {} : { username: match[1] }),
    }
  })
}

function currentUser(): LocalUser {
  return { homeDir: homedir(), username: userInfo().username, env: process.env }
}

/** The config file's settings for the host, with lower-case keys. */
function readConfig(options: SshOptions, user: LocalUser): Record<string, string | string[]> {
  const path = options.configPath ?? join(user.homeDir, '.ssh', 'config')
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if (options.configPath === undefined) return {}
    throw new TransshipError(
      'SSH_CONFIG_INVALID',
      `ssh ${options.host}: cannot read SSH config ${path}: ${messageOf(error)}`,
      { cause: error },
    )
  }
  return SSHConfig.parse(text).compute(options.host, { ignoreCase: true })
}

function identityFilesOf(
  options: SshOptions,
  fromConfig: string[],
  user: LocalUser,
): IdentityFile[] {
  if (options.identityFiles) {
    return options.identityFiles.map((path) => ({ path, required: true }))
  }
  const paths =
    fromConfig.length > 0
      ? fromConfig
      : DEFAULT_IDENTITY_FILES.map((name) => join(user.homeDir, '.ssh', name))
  return paths.filter((path) => existsSync(path)).map((path) => ({ path, required: false }))
}

function configKnownHosts(fromConfig: string[], user: LocalUser): string[] {
  if (fromConfig.length > 0) return fromConfig
  return [join(user.homeDir, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts']
}

/** Expands `%h`-style tokens of ssh_config(5); `%%` is a literal percent sign. */
function expandTokens(value: string, tokens: Record<string, string>): string {
  return value.replace(/%(.)/g, (whole, token: string) =>
    token === '%' ? '%' : (tokens[token] ?? whole),
  )
}

function expandHome(path: string, homeDir: string): string {
  return path === '~' || path.startsWith('~/') ? homeDir + path.slice(1) : path
}

function listOf(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

function first(value: string | string[] | undefined): string | undefined {
  return listOf(value)[0]
}

function numberOf(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value)
}
