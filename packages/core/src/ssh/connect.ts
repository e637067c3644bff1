import { readFileSync } from 'node:fs'
import createDebug from 'debug'
import type {
  AlgorithmList,
  AnyAuthMethod,
  Client,
  ClientChannel,
  ParsedKey,
  ServerHostKeyAlgorithm,
} from 'ssh2'
import { messageOf, TransshipError } from '../errors.js'
import {
  checkHostKey,
  hostKeyFingerprint,
  hostKeyType,
  type KnownHostEntry,
  knownHostsName,
  knownKeyTypes,
  parseKnownHosts,
} from './knownHosts.js'
import {
  type JumpHost,
  type ResolvedSshOptions,
  resolveSshOptions,
  type SshOptions,
} from './options.js'

const debug = createDebug('transship:ssh')

/** ssh2's `parseKey`: reads an identity file's key, decrypting it with the passphrase. */
type ParseKey = typeof import('ssh2')['utils']['parseKey']

/** An open, authenticated SSH connection. */
export interface SshConnection {
  /** The ssh2 client, ready for `exec`, `sftp` and forwarding. */
  readonly client: Client
  /** The options it was opened with, after the SSH config file and defaults. */
  readonly options: ResolvedSshOptions
  /** `user@host:port`, for messages. */
  readonly target: string
  /** Ends the connection; resolves once it is closed. */
  close(): Promise<void>
}

/** How many jump hosts a connection may go through, against ProxyJump loops. */
const MAX_JUMPS = 8

/** ssh2's host key algorithms for each `known_hosts` key type. */
const HOST_KEY_ALGORITHMS: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
}

/**
 * Opens one SSH connection: resolves the host through the SSH config file, goes through
 * its jump hosts (`ProxyJump`, each one connected to as this function does, with its own
 * config section), verifies the server's host key against `known_hosts`, authenticates
 * with the agent and the identity files, and turns off Nagle's algorithm (ssh2 leaves it
 * on, which slows every request/response exchange over the connection).
 *
 * ## Example
 * ```ts
 * const ssh = await connectSsh({ host: 'builder', knownHostsPath: '/etc/transship/known_hosts' })
 * try {
 *   ssh.client.exec('uptime', (error, stream) => { ... })
 * } finally {
 *   await ssh.close()
 * }
 * ```
 *
 * @param options - how to reach and authenticate to the server.
 * @return the open connection.
 * @throws TransshipError `SSH_HOST_KEY_UNKNOWN`, `SSH_HOST_KEY_CHANGED` or
 *   `SSH_HOST_KEY_REVOKED` (with the offered key's SHA256 fingerprint), `SSH_KEY_INVALID`
 *   (an identity file cannot be read or decrypted), `SSH_AUTH_FAILED`, `SSH_CONNECT_FAILED`
 *   (also when a jump host cannot reach the next hop), `SSH_CONFIG_INVALID` (a ProxyJump
 *   that cannot be read or loops); every message names the host, and the jump hosts.
 */
export async function connectSsh(options: SshOptions): Promise<SshConnection> {
  return connectThrough(options, 0)
}

async function connectThrough(options: SshOptions, jumps: number): Promise<SshConnection> {
  // Loaded on the first connection, not with the module: ssh2 (and its native binding) is a
  // large part of the CLI's start-up, which most commands and `--help` do not need.
  const { default: ssh2 } = await import('ssh2')
  const resolved = resolveSshOptions(options)
  let target = targetOf(resolved)
  const knownHosts = resolved.strictHostKeyChecking ? readKnownHosts(resolved) : []
  const auth = authMethodsOf(resolved, target, ssh2.utils.parseKey)
  const hostKeyCheck: { error?: TransshipError } = {}

  let jump: SshConnection | undefined
  let sock: ClientChannel | undefined
  if (resolved.proxyJump !== undefined) {
    if (jumps >= MAX_JUMPS) {
      throw new TransshipError(
        'SSH_CONFIG_INVALID',
        `ssh ${target}: more than ${MAX_JUMPS} jump hosts: does a ProxyJump loop?`,
      )
    }
    jump = await connectThrough(jumpHostOptions(options, resolved.proxyJump), jumps + 1)
    target = `${target} via ${jump.target}`
    try {
      sock = await forwardThrough(jump, resolved, target)
    } catch (error) {
      await jump.close()
      throw error
    }
  }

  const client = new ssh2.Client()
  debug('%s: connecting', target)
  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error & { level?: string }) => {
        client.off('ready', onReady)
        reject(hostKeyCheck.error ?? connectError(target, auth.tried, error))
      }
      const onReady = () => {
        client.off('error', onError)
        resolve()
      }
      client.once('error', onError)
      client.once('ready', onReady)
      client.connect({
        host: resolved.hostName,
        port: resolved.port,
        username: resolved.username,
        authHandler: auth.methods,
        hostVerifier: (key: Buffer) => {
          hostKeyCheck.error = verifyHostKey(resolved, target, knownHosts, key)
          return hostKeyCheck.error === undefined
        },
        algorithms: {
          ...resolved.algorithms,
          serverHostKey: preferredHostKeyAlgorithms(resolved, knownHosts),
        },
        // One connection carries a whole migration: notice a dead peer.
        keepaliveInterval: 15_000,
        ...(sock === undefined ? {} : { sock }),
        ...(resolved.connectTimeout === undefined ? {} : { readyTimeout: resolved.connectTimeout }),
      })
    })
  } catch (error) {
    // ssh2 may report more errors of the failed attempt (after a timeout, the lost
    // connection): they are logged, not left unhandled.
    client.on('error', (later) => debug('%s: %s', target, later.message))
    client.end()
    await jump?.close()
    throw error
  }
  client.setNoDelay(true)
  client.on('error', (error) => debug('%s: %s', target, error.message))
  const closed = new Promise<void>((resolve) => client.once('close', resolve))
  // The jump host's connection serves this one only.
  if (jump) closed.then(() => jump.close())
  debug('%s: connected', target)

  return {
    client,
    options: resolved,
    target,
    close: async () => {
      client.end()
      await closed
      await jump?.close()
      debug('%s: closed', target)
    },
  }
}

/**
 * How to connect to the last jump host of a chain: through the ones before it, else as
 * its own config section says (which may name jump hosts of its own, as with OpenSSH).
 * The config file, agent, passphrase, host key checking, timeout and algorithms carry
 * over; identity files and known_hosts come from the jump host's config section.
 */
function jumpHostOptions(options: SshOptions, chain: readonly JumpHost[]): SshOptions {
  const last = chain.at(-1) as JumpHost
  const before = chain.slice(0, -1)
  return {
    host: last.host,
    ...(last.port === undefined ? {} : { port: last.port }),
    ...(last.username === undefined ? {} : { username: last.username }),
    ...(before.length === 0 ? {} : { proxyJump: before.map(jumpSpec) }),
    ...pick(options, [
      'configPath',
      'agent',
      'passphrase',
      'strictHostKeyChecking',
      'connectTimeout',
      'algorithms',
    ]),
  }
}

function jumpSpec(jump: JumpHost): string {
  const host = jump.host.includes(':') ? `[${jump.host}]` : jump.host
  return `${jump.username === undefined ? '' : `${jump.username}@`}${host}${jump.port === undefined ? '' : `:${jump.port}`}`
}

function pick<T extends object, K extends keyof T>(object: T, keys: readonly K[]): Partial<T> {
  const picked: Partial<T> = {}
  for (const key of keys) if (object[key] !== undefined) picked[key] = object[key]
  return picked
}

/** A channel from the jump host to the server's SSH port, to run the connection over. */
function forwardThrough(
  jump: SshConnection,
  resolved: ResolvedSshOptions,
  target: string,
): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    jump.client.forwardOut('127.0.0.1', 0, resolved.hostName, resolved.port, (error, channel) => {
      if (!error) {
        resolve(channel)
        return
      }
      reject(
        new TransshipError(
          'SSH_CONNECT_FAILED',
          `ssh ${target}: the jump host cannot reach ${resolved.hostName}:${resolved.port}: ${error.message}`,
          { cause: error },
        ),
      )
    })
  })
}

function targetOf(options: ResolvedSshOptions): string {
  const address = `${options.username}@${options.hostName}:${options.port}`
  return options.host === options.hostName ? address : `${options.host} (${address})`
}

function readKnownHosts(options: ResolvedSshOptions): KnownHostEntry[] {
  return options.knownHostsPaths.flatMap((path) => {
    try {
      return parseKnownHosts(readFileSync(path, 'utf8'), path)
    } catch (error) {
      debug('known_hosts %s not read: %s', path, messageOf(error))
      return []
    }
  })
}

/** Puts the algorithms of the key types `known_hosts` holds for the host first. */
function preferredHostKeyAlgorithms(
  options: ResolvedSshOptions,
  knownHosts: readonly KnownHostEntry[],
): AlgorithmList<ServerHostKeyAlgorithm> {
  const name = knownHostsName(options.hostName, options.port)
  const preferred = knownKeyTypes(knownHosts, name).flatMap(
    (type) => HOST_KEY_ALGORITHMS[type] ?? [],
  )
  // ssh2 applies these in key order: removing first makes `prepend` a move to the front.
  return { remove: preferred, prepend: preferred, append: [] }
}

function verifyHostKey(
  options: ResolvedSshOptions,
  target: string,
  knownHosts: readonly KnownHostEntry[],
  key: Buffer,
): TransshipError | undefined {
  const offered = `${hostKeyType(key)} key ${hostKeyFingerprint(key)}`
  if (!options.strictHostKeyChecking) {
    debug('%s: accepting %s without checking (strict host key checking is off)', target, offered)
    return undefined
  }
  const name = knownHostsName(options.hostName, options.port)
  const verdict = checkHostKey(knownHosts, name, key)
  switch (verdict.status) {
    case 'known':
      debug('%s: host key %s matches %s', target, offered, verdict.entry.source)
      return undefined
    case 'revoked':
      return new TransshipError(
        'SSH_HOST_KEY_REVOKED',
        `ssh ${target}: the server offered ${offered}, which ${verdict.entry.source} marks @revoked`,
      )
    case 'changed':
      return new TransshipError(
        'SSH_HOST_KEY_CHANGED',
        `ssh ${target}: host key has CHANGED: the server offered ${offered}, but ` +
          `${verdict.entry.source} holds another ${verdict.entry.keyType} key for ${name}. ` +
          'Someone may be intercepting the connection, or the host was reinstalled: ' +
          'check the fingerprint before updating known_hosts.',
      )
    case 'unknown':
      return new TransshipError(
        'SSH_HOST_KEY_UNKNOWN',
        `ssh ${target}: host key is not known: the server offered ${offered}, and no entry ` +
          `for ${name} holds it in ${options.knownHostsPaths.join(', ')}. If the fingerprint ` +
          `is right, add the key to known_hosts (ssh-keyscan -p ${options.port} ` +
          `${options.hostName}), or turn strict host key checking off explicitly.`,
      )
  }
}

/** The authentication methods to try, and a description of each for messages. */
function authMethodsOf(
  options: ResolvedSshOptions,
  target: string,
  parseKey: ParseKey,
): { methods: AnyAuthMethod[]; tried: string[] } {
  const methods: AnyAuthMethod[] = []
  const tried: string[] = []
  if (options.agent) {
    methods.push({ type: 'agent', username: options.username, agent: options.agent })
    tried.push(`the agent at ${options.agent}`)
  }
  for (const identity of options.identityFiles) {
    const key = readIdentity(identity.path, options.passphrase, target, parseKey)
    if (key instanceof TransshipError) {
      if (identity.required) throw key
      debug('%s: skipping identity %s: %s', target, identity.path, key.message)
      continue
    }
    methods.push({ type: 'publickey', username: options.username, key })
    tried.push(identity.path)
  }
  if (methods.length === 0) {
    throw new TransshipError(
      'SSH_AUTH_FAILED',
      `ssh ${target}: no way to authenticate: no SSH agent (SSH_AUTH_SOCK is unset) and no ` +
        'usable identity file (give one, or create ~/.ssh/id_ed25519)',
    )
  }
  return { methods, tried }
}

function readIdentity(
  path: string,
  passphrase: string | undefined,
  target: string,
  parseKey: ParseKey,
): ParsedKey | TransshipError {
  let parsed: ParsedKey | Error
  try {
    parsed = parseKey(readFileSync(path), passphrase)
  } catch (error) {
    parsed = error instanceof Error ? error : new Error(String(error))
  }
  if (!(parsed instanceof Error)) return parsed
  return new TransshipError(
    'SSH_KEY_INVALID',
    `ssh ${target}: cannot use identity file ${path}: ${parsed.message}`,
    { cause: parsed },
  )
}

function connectError(
  target: string,
  tried: readonly string[],
  error: Error & { level?: string },
): TransshipError {
  if (error.level === 'client-authentication') {
    return new TransshipError(
      'SSH_AUTH_FAILED',
      `ssh ${target}: authentication failed with ${tried.join(', ')}`,
      { cause: error },
    )
  }
  return new TransshipError('SSH_CONNECT_FAILED', `ssh ${target}: ${error.message}`, {
    cause: error,
  })
}
