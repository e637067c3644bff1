import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type LocalUser, resolveSshOptions } from '../src/ssh/options.js'

let home: string
let user: LocalUser

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'transship-ssh-options-'))
  mkdirSync(join(home, '.ssh'))
  user = { homeDir: home, username: 'alice', env: { SSH_AUTH_SOCK: '/run/agent.sock' } }
})

afterEach(() => {
  rmSync(home, { recursive: true, force: true })
})

function writeSshFile(name: string, text: string): string {
  const path = join(home, '.ssh', name)
  writeFileSync(path, text)
  return path
}

describe('SSH options without a config file', () => {
  it('defaults to port 22, the local user, the agent, and the usual known_hosts', () => {
    expect(resolveSshOptions({ host: 'builder' }, user)).toEqual({
      host: 'builder',
      hostName: 'builder',
      port: 22,
      username: 'alice',
      identityFiles: [],
      passphrase: undefined,
      agent: '/run/agent.sock',
      knownHostsPaths: [join(home, '.ssh/known_hosts'), '/etc/ssh/ssh_known_hosts'],
      strictHostKeyChecking: true,
    })
  })

  it('offers the default identity files that exist, ed25519 first', () => {
    writeSshFile('id_rsa', 'rsa')
    writeSshFile('id_ed25519', 'ed25519')
    expect(resolveSshOptions({ host: 'builder' }, user).identityFiles).toEqual([
      { path: join(home, '.ssh/id_ed25519'), required: false },
      { path: join(home, '.ssh/id_rsa'), required: false },
    ])
  })

  it('requires identity files given explicitly, and uses no agent when told so', () => {
    const resolved = resolveSshOptions(
      { host: 'builder', identityFiles: ['/keys/ci'], agent: false },
      user,
    )
    expect(resolved.identityFiles).toEqual([{ path: '/keys/ci', required: true }])
    expect(resolved.agent).toBeUndefined()
  })
})

describe('SSH options from ~/.ssh/config', () => {
  beforeEach(() => {
    writeSshFile(
      'config',
      [
        'Host transship-b',
        '  HostName 10.213.0.6',
        '  Port 2222',
        '  User root',
        '  IdentityFile ~/.ssh/b_key',
        '  IdentityFile ~/.ssh/missing_key',
        '  UserKnownHostsFile ~/.ssh/b_known_hosts /etc/b_known_hosts',
        '',
        'Host *.lab',
        '  HostName %h.example.org',
        '  IdentityFile %d/.ssh/lab_%r',
        '',
        'Host *',
        '  User deploy',
      ].join('\n'),
    )
    writeSshFile('b_key', 'key')
    writeSshFile('lab_deploy', 'key')
  })

  it('resolves a host alias: HostName, Port, User, IdentityFile, UserKnownHostsFile', () => {
    expect(resolveSshOptions({ host: 'transship-b' }, user)).toMatchObject({
      host: 'transship-b',
      hostName: '10.213.0.6',
      port: 2222,
      username: 'root',
      // A config IdentityFile that does not exist is skipped, as OpenSSH does.
      identityFiles: [{ path: join(home, '.ssh/b_key'), required: false }],
      knownHostsPaths: [join(home, '.ssh/b_known_hosts'), '/etc/b_known_hosts'],
    })
  })

  it('lets explicit options win over the config file', () => {
    const resolved = resolveSshOptions(
      {
        host: 'transship-b',
        port: 2200,
        username: 'ops',
        identityFiles: ['/keys/ops'],
        knownHostsPath: '/keys/known_hosts',
      },
      user,
    )
    expect(resolved).toMatchObject({
      hostName: '10.213.0.6',
      port: 2200,
      username: 'ops',
      identityFiles: [{ path: '/keys/ops', required: true }],
      knownHostsPaths: ['/keys/known_hosts'],
    })
  })

  it('expands %h, %d and %r tokens, and takes the first matching value', () => {
    expect(resolveSshOptions({ host: 'db.lab' }, user)).toMatchObject({
      hostName: 'db.lab.example.org',
      username: 'deploy',
      identityFiles: [{ path: join(home, '.ssh/lab_deploy'), required: false }],
    })
  })

  it('reads another config file when told to', () => {
    const path = join(home, 'other_config')
    writeFileSync(path, 'Host x\n  HostName 192.0.2.1\n')
    expect(resolveSshOptions({ host: 'x', configPath: path }, user).hostName).toBe('192.0.2.1')
  })

  it('fails, naming the host and file, when an explicit config file is missing', () => {
    expect(() => resolveSshOptions({ host: 'x', configPath: '/nonexistent/config' }, user)).toThrow(
      /ssh x: cannot read SSH config \/nonexistent\/config/,
    )
  })
})
