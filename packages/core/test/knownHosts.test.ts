import { describe, expect, it } from 'vitest'
import {
  checkHostKey,
  hostKeyFingerprint,
  hostKeyType,
  hostsFieldMatches,
  knownHostsName,
  knownKeyTypes,
  parseKnownHosts,
} from '../src/ssh/knownHosts.js'

// Keys made with ssh-keygen; the fingerprint is what `ssh-keygen -lf` printed for KEY, and
// the hashed lines are what `ssh-keygen -H` made of `[10.0.0.2]:2222` and `example.org`.
const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIEmW54QCrZ5s9U+xB6Lz/rUPZDvgY9p3XZyDOcSi+FYp'
const KEY_FINGERPRINT = 'SHA256:PYqGUXgvW/Ppc0f5IRO0hKIoHkKgC/Yhj1OsMOfFSzs'
const OTHER_KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIKjtUlgA3mMMtNXHmJRYV3VWAHyXdDTk5JZOQqFWGS3v'
const ECDSA_KEY =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBL2CDc51qVyiPeBBFmM0fz9Q8uAdO1Y2Y99z4vob8eQ2maUXuKxctTxpap8x5SIbakVjOTONfDyBgDC6seG/n5s='
const HASHED_PORT_2222 = '|1|0ufTXihDllw+rYQHgTbk3tzyMOg=|HUum9A/fdRqeTLfHlOOT86opPEc='
const HASHED_EXAMPLE_ORG = '|1|E5UxFLg4QBP70YIZgZhiZi3S8aY=|agPkKCV4W+Xv6zW6r/fgHK01x+M='

const blob = (base64: string) => Buffer.from(base64, 'base64')

describe('known_hosts parsing', () => {
  it('reads key lines, skipping comments, blank, malformed and @cert-authority lines', () => {
    const entries = parseKnownHosts(
      [
        '# a comment',
        '',
        `host-a,10.0.0.1 ssh-ed25519 ${KEY} a comment`,
        'malformed-line-without-key',
        `@cert-authority *.example.org ssh-ed25519 ${OTHER_KEY}`,
        `@revoked * ssh-ed25519 ${OTHER_KEY}`,
      ].join('\n'),
      '/etc/kh',
    )
    expect(entries).toEqual([
      {
        hosts: 'host-a,10.0.0.1',
        marker: undefined,
        keyType: 'ssh-ed25519',
        key: blob(KEY),
        source: '/etc/kh:3',
      },
      {
        hosts: '*',
        marker: '@revoked',
        keyType: 'ssh-ed25519',
        key: blob(OTHER_KEY),
        source: '/etc/kh:6',
      },
    ])
  })
})

describe('known_hosts host matching', () => {
  it('names a host on port 22 bare, on other ports as [host]:port', () => {
    expect(knownHostsName('10.0.0.2', 22)).toBe('10.0.0.2')
    expect(knownHostsName('10.0.0.2', 2222)).toBe('[10.0.0.2]:2222')
  })

  it('matches plain patterns, lists, wildcards and negations', () => {
    expect(hostsFieldMatches('a.example.org,10.0.0.1', '10.0.0.1')).toBe(true)
    expect(hostsFieldMatches('A.Example.org', 'a.example.org')).toBe(true)
    expect(hostsFieldMatches('*.example.org', 'b.example.org')).toBe(true)
    expect(hostsFieldMatches('10.0.0.?', '10.0.0.7')).toBe(true)
    expect(hostsFieldMatches('10.0.0.?', '10.0.0.17')).toBe(false)
    expect(hostsFieldMatches('*.example.org,!bad.example.org', 'bad.example.org')).toBe(false)
    expect(hostsFieldMatches('10.0.0.1', '10.0.0.10')).toBe(false)
  })

  it('keeps [host]:port apart from the bare host', () => {
    expect(hostsFieldMatches('[10.0.0.2]:2222', '[10.0.0.2]:2222')).toBe(true)
    expect(hostsFieldMatches('[10.0.0.2]:2222', '10.0.0.2')).toBe(false)
    expect(hostsFieldMatches('10.0.0.2', '[10.0.0.2]:2222')).toBe(false)
  })

  it('matches names hashed by ssh-keygen -H', () => {
    expect(hostsFieldMatches(HASHED_PORT_2222, '[10.0.0.2]:2222')).toBe(true)
    expect(hostsFieldMatches(HASHED_PORT_2222, '10.0.0.2')).toBe(false)
    expect(hostsFieldMatches(HASHED_EXAMPLE_ORG, 'example.org')).toBe(true)
    expect(hostsFieldMatches(HASHED_EXAMPLE_ORG, 'example.com')).toBe(false)
  })
})

describe('host key verdicts', () => {
  const entries = parseKnownHosts(
    [
      `${HASHED_PORT_2222} ssh-ed25519 ${KEY}`,
      `plain.example.org ssh-ed25519 ${KEY}`,
      `@revoked * ssh-ed25519 ${OTHER_KEY}`,
    ].join('\n'),
  )

  it('knows the recorded key, hashed or plain', () => {
    expect(checkHostKey(entries, '[10.0.0.2]:2222', blob(KEY)).status).toBe('known')
    expect(checkHostKey(entries, 'plain.example.org', blob(KEY)).status).toBe('known')
  })

  it('says changed when the host has another key of the same type', () => {
    const changed = parseKnownHosts(`plain.example.org ssh-ed25519 ${OTHER_KEY}`)
    expect(checkHostKey(changed, 'plain.example.org', blob(KEY))).toEqual({
      status: 'changed',
      entry: changed[0],
    })
  })

  it('says unknown for an unlisted host, port, or key type', () => {
    expect(checkHostKey(entries, 'elsewhere.example.org', blob(KEY)).status).toBe('unknown')
    expect(checkHostKey(entries, '[10.0.0.2]:2223', blob(KEY)).status).toBe('unknown')
    expect(checkHostKey(entries, 'plain.example.org', blob(ECDSA_KEY)).status).toBe('unknown')
  })

  it('refuses a revoked key for any host', () => {
    expect(checkHostKey(entries, 'plain.example.org', blob(OTHER_KEY)).status).toBe('revoked')
  })

  it('lists the key types known for a host, to prefer them in the handshake', () => {
    const mixed = parseKnownHosts(
      [
        `h ecdsa-sha2-nistp256 ${ECDSA_KEY}`,
        `h ssh-ed25519 ${KEY}`,
        `h,other ecdsa-sha2-nistp256 ${ECDSA_KEY}`,
        `other ssh-rsa ${KEY}`,
      ].join('\n'),
    )
    expect(knownKeyTypes(mixed, 'h')).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519'])
  })
})

describe('host key fingerprints', () => {
  it('matches ssh-keygen -l', () => {
    expect(hostKeyFingerprint(blob(KEY))).toBe(KEY_FINGERPRINT)
  })

  it('reads the key type from the blob', () => {
    expect(hostKeyType(blob(KEY))).toBe('ssh-ed25519')
    expect(hostKeyType(blob(ECDSA_KEY))).toBe('ecdsa-sha2-nistp256')
  })
})
