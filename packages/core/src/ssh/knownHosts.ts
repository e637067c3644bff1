import { createHash, createHmac } from 'node:crypto'

/** One key line of an OpenSSH `known_hosts` file. */
export interface KnownHostEntry {
  /** Comma-separated host patterns, or a hashed name (`|1|salt|hash`). */
  readonly hosts: string
  /** `@revoked` for a key that must never be accepted; undefined for an ordinary entry. */
  readonly marker: '@revoked' | undefined
  /** The key type as written, e.g. `ssh-ed25519`. */
  readonly keyType: string
  /** The public key blob in SSH wire format. */
  readonly key: Buffer
  /** Where the entry was read, for messages: `path:line`. */
  readonly source: string
}

/** What a `known_hosts` file says about a host's key. */
export type HostKeyVerdict =
  | { readonly status: 'known'; readonly entry: KnownHostEntry }
  /** A key of the same type is known for the host, and it is a different one. */
  | { readonly status: 'changed'; readonly entry: KnownHostEntry }
  | { readonly status: 'revoked'; readonly entry: KnownHostEntry }
  /** No entry for this host and key type. */
  | { readonly status: 'unknown' }

/**
 * Parses the text of an OpenSSH `known_hosts` file. Comments, blank lines, malformed lines
 * and `@cert-authority` lines (host certificates are not supported) are left out.
 *
 * ## Example
 * ```ts
 * const entries = parseKnownHosts(await readFile(path, 'utf8'), path)
 * ```
 *
 * @param text - the file's content.
 * @param path - the file's path, recorded in each entry's `source`.
 * @return the file's key entries, in order.
 */
export function parseKnownHosts(text: string, path = 'known_hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = []
  text.split('\n').forEach((line, index) => {
    const fields = line.trim().split(/\s+/)
    if (fields[0] === '' || fields[0]?.startsWith('#')) return
    let marker: KnownHostEntry['marker']
    if (fields[0]?.startsWith('@')) {
      if (fields[0] !== '@revoked') return
      marker = '@revoked'
      fields.shift()
    }
    const [hosts, keyType, base64] = fields
    if (!hosts || !keyType || !base64) return
    entries.push({
      hosts,
      marker,
      keyType,
      key: Buffer.from(base64, 'base64'),
      source: `${path}:${index + 1}`,
    })
  })
  return entries
}

/**
 * The name a host is recorded under in `known_hosts`: the bare host for port 22,
 * `[host]:port` otherwise.
 *
 * @param host - the host name or address connected to.
 * @param port - the SSH port.
 * @return the lookup name.
 */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/**
 * Whether an entry's host field names a host: comma-separated patterns with `*` and `?`
 * wildcards and `!` negations, or a hashed name (`|1|base64 salt|base64 HMAC-SHA1`).
 *
 * @param hosts - the entry's host field.
 * @param name - the lookup name, from {@link knownHostsName}.
 * @return true when the field names the host.
 */
export function hostsFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) return hashedNameMatches(hosts, name)
  let matched = false
  for (const pattern of hosts.split(',')) {
    const negated = pattern.startsWith('!')
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue
    if (negated) return false
    matched = true
  }
  return matched
}

/**
 * Checks a host key offered by a server against `known_hosts` entries, as OpenSSH does:
 * a revoked key is refused anywhere; a key is known when an entry for the host holds it;
 * it has changed when the host has an entry of the same key type holding another key.
 *
 * ## Example
 * ```ts
 * const verdict = checkHostKey(entries, knownHostsName('10.0.0.2', 2222), offeredKey)
 * if (verdict.status !== 'known') throw new Error(hostKeyFingerprint(offeredKey))
 * ```
 *
 * @param entries - entries from {@link parseKnownHosts}.
 * @param name - the lookup name, from {@link knownHostsName}.
 * @param key - the offered public key blob (SSH wire format).
 * @return the verdict, with the deciding entry.
 */
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  name: string,
  key: Buffer,
): HostKeyVerdict {
  const revoked = entries.find((entry) => entry.marker === '@revoked' && entry.key.equals(key))
  if (revoked) return { status: 'revoked', entry: revoked }
  const forHost = entries.filter(
    (entry) => entry.marker === undefined && hostsFieldMatches(entry.hosts, name),
  )
  const known = forHost.find((entry) => entry.key.equals(key))
  if (known) return { status: 'known', entry: known }
  const type = hostKeyType(key)
  const changed = forHost.find((entry) => entry.keyType === type)
  return changed ? { status: 'changed', entry: changed } : { status: 'unknown' }
}

/**
 * The key types `known_hosts` entries hold for a host, so that the SSH handshake can prefer
 * a key the client can verify (as OpenSSH does).
 *
 * @param entries - entries from {@link parseKnownHosts}.
 * @param name - the lookup name, from {@link knownHostsName}.
 * @return the distinct key types, in file order.
 */
export function knownKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  const types = entries
    .filter((entry) => entry.marker === undefined && hostsFieldMatches(entry.hosts, name))
    .map((entry) => entry.keyType)
  return [...new Set(types)]
}

/**
 * The fingerprint OpenSSH shows for a key: `SHA256:` and the unpadded base64 digest.
 *
 * ## Example
 * ```ts
 * hostKeyFingerprint(Buffer.from(base64KeyFromKnownHosts, 'base64')) // 'SHA256:uNiV...'
 * ```
 *
 * @param key - a public key blob (SSH wire format).
 * @return e.g. `SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s`.
 */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

/**
 * The key type named at the start of a public key blob, e.g. `ssh-ed25519`.
 *
 * @param key - a public key blob (SSH wire format: a length-prefixed type name first).
 * @return the type name, or an empty string for a malformed blob.
 */
export function hostKeyType(key: Buffer): string {
  if (key.length < 4) return ''
  const length = key.readUInt32BE(0)
  return key.subarray(4, 4 + length).toString('latin1')
}

function hashedNameMatches(hosts: string, name: string): boolean {
  const [, , salt, hash] = hosts.split('|')
  if (!salt || !hash) return false
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64')
  return digest === hash
}

function globMatches(pattern: string, name: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${regex}$`, 'i').test(name)
}
