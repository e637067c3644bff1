import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { promisify } from 'node:util'
import { hostKeyFingerprint } from '@transship/core'
import { drainToHash, randomArtifact } from '@transship/core/testing'
import { describe, expect, it } from 'vitest'
import { createScpTransport, scpTransportFromUrl } from '../src/index.js'
import {
  afterTest,
  closing,
  env,
  localDirectory,
  onHostB,
  processesHolding,
  processInfo,
  quote,
  rejection,
  remoteDirectory,
  remoteTree,
  sshOptions,
  TARGET,
} from './support.js'

const exec = promisify(execFile)

/** Puts a small artifact through `transport` and reads it back. */
async function roundTrip(transport: ReturnType<typeof createScpTransport>) {
  const artifact = await randomArtifact(100_000, 'connection')
  await transport.put('a/b', artifact.stream(), { sha256: artifact.sha256 })
  expect(await drainToHash(await transport.get('a/b'))).toEqual({
    size: artifact.size,
    sha256: artifact.sha256,
  })
}

/** The host key line of known_hosts, without its host field. */
async function hostKey(): Promise<string> {
  const line = (await readFile(env.TESTENV_SSH_KNOWN_HOSTS, 'utf8')).split('\n')[0] ?? ''
  return line.split(' ').slice(1).join(' ')
}

async function generateKey(dir: string, passphrase = ''): Promise<string> {
  const path = join(dir, 'id_ed25519')
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', path])
  return path
}

describe('scp transport: addresses', () => {
  it('reaches a host by its ~/.ssh/config alias alone', async () => {
    const home = await localDirectory()
    await exec('mkdir', ['-m', '700', join(home, '.ssh')])
    await writeFile(join(home, '.ssh', 'config'), await readFile(env.TESTENV_SSH_CONFIG))
    const previous = process.env.HOME
    process.env.HOME = home
    afterTest(async () => {
      process.env.HOME = previous
    })
    const dir = remoteDirectory()

    const transport = closing(
      scpTransportFromUrl(`scp://${env.TESTENV_SSH_ALIAS}${dir}`, { agent: false }),
    )
    expect(transport.url).toBe(`scp://${env.TESTENV_SSH_ALIAS}${dir}`)
    await roundTrip(transport)
    expect(await remoteTree(dir)).toEqual(['a', 'a/b'])
  })

  it('stores under the home directory for /~/ paths', async () => {
    const name = `transship-scp-test-home-${process.pid}-${Date.now()}`
    afterTest(() => onHostB(`rm -rf ~/${name}`))
    const transport = closing(
      scpTransportFromUrl(
        `scp://${env.TESTENV_SSH_USER}@${env.TESTENV_SSH_HOST}:${env.TESTENV_SSH_PORT}/~/${name}`,
        {
          identityFiles: [env.TESTENV_SSH_KEY],
          knownHostsPath: env.TESTENV_SSH_KNOWN_HOSTS,
          agent: false,
        },
      ),
    )
    await roundTrip(transport)
    const home = (await onHostB('echo ~')).trim()
    expect(await remoteTree(`${home}/${name}`)).toEqual(['a', 'a/b'])
  })

  it('goes through a ProxyJump host to a server only it can reach', async () => {
    // 127.0.0.1:2222 is B's sshd as seen from B itself: unreachable from here.
    const dir = await localDirectory()
    const knownHosts = join(dir, 'known_hosts')
    await writeFile(
      knownHosts,
      `[${env.TESTENV_SSH_HOST}]:${env.TESTENV_SSH_PORT} ${await hostKey()}\n` +
        `[127.0.0.1]:${env.TESTENV_SSH_PORT} ${await hostKey()}\n`,
    )
    const config = join(dir, 'config')
    const common = [
      `  User ${env.TESTENV_SSH_USER}`,
      `  Port ${env.TESTENV_SSH_PORT}`,
      `  IdentityFile ${env.TESTENV_SSH_KEY}`,
      `  UserKnownHostsFile ${knownHosts}`,
    ]
    await writeFile(
      config,
      [
        'Host bastion',
        `  HostName ${env.TESTENV_SSH_HOST}`,
        ...common,
        'Host inner',
        '  HostName 127.0.0.1',
        '  ProxyJump bastion',
        ...common,
        '',
      ].join('\n'),
    )
    const remote = remoteDirectory()

    const transport = closing(
      scpTransportFromUrl(`scp://inner${remote}`, { configPath: config, agent: false }),
    )
    await roundTrip(transport)
    expect(await remoteTree(remote)).toEqual(['a', 'a/b'])

    const direct = closing(
      scpTransportFromUrl(`scp://inner${remote}`, {
        configPath: config,
        agent: false,
        proxyJump: 'none',
      }),
    )
    const error = await rejection(direct.stat('a/b'), 'TRANSPORT_IO')
    expect(error.message).toMatch(/ECONNREFUSED/)
  })
})

describe('scp transport: authentication', () => {
  it('uses an encrypted key with its passphrase', async () => {
    const transport = closing(
      createScpTransport(
        sshOptions({
          path: remoteDirectory(),
          identityFiles: [env.TESTENV_SSH_KEY_ENCRYPTED],
          passphrase: env.TESTENV_SSH_KEY_PASSPHRASE,
        }),
      ),
    )
    await roundTrip(transport)
  })

  it('names the key file when its passphrase is wrong or missing', async () => {
    for (const passphrase of ['wrong', undefined]) {
      const dir = remoteDirectory()
      const transport = closing(
        createScpTransport(
          sshOptions({
            path: dir,
            identityFiles: [env.TESTENV_SSH_KEY_ENCRYPTED],
            ...(passphrase === undefined ? {} : { passphrase }),
          }),
        ),
      )
      const error = await rejection(transport.stat('x'), 'TRANSPORT_IO')
      expect(error.message).toContain(
        `[transship] [scp] cannot stat "x" at ${dir}/x on ${TARGET}: ssh ${TARGET}: cannot use identity file ${env.TESTENV_SSH_KEY_ENCRYPTED}`,
      )
      expect(error.cause).toMatchObject({ code: 'SSH_KEY_INVALID' })
    }
  })

  it('authenticates through ssh-agent', async () => {
    const dir = await localDirectory()
    const socket = join(dir, 'agent.sock')
    const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' })
    afterTest(async () => {
      agent.kill()
      await once(agent, 'exit').catch(() => {})
    })
    await expect
      .poll(() =>
        exec('test', ['-S', socket]).then(
          () => true,
          () => false,
        ),
      )
      .toBe(true)
    await exec('ssh-add', ['-q', env.TESTENV_SSH_KEY], {
      env: { ...process.env, SSH_AUTH_SOCK: socket },
    })

    const transport = closing(
      createScpTransport(sshOptions({ path: remoteDirectory(), identityFiles: [], agent: socket })),
    )
    await roundTrip(transport)
  })

  it('reports wrong credentials, naming the host and the path', async () => {
    const key = await generateKey(await localDirectory())
    const dir = remoteDirectory()
    const transport = closing(createScpTransport(sshOptions({ path: dir, identityFiles: [key] })))
    const error = await rejection(
      transport.put('k', (await randomArtifact(10)).stream()),
      'TRANSPORT_IO',
    )
    expect(error.message).toBe(
      `[transship] [scp] cannot put "k" at ${dir}/k on ${TARGET}: ssh ${TARGET}: authentication failed with ${key}`,
    )
    expect(error.cause).toMatchObject({ code: 'SSH_AUTH_FAILED' })
  })
})

describe('scp transport: host keys', () => {
  it('refuses an unknown host key, showing its fingerprint', async () => {
    const knownHosts = join(await localDirectory(), 'known_hosts')
    await writeFile(knownHosts, '')
    const fingerprint = hostKeyFingerprint(
      Buffer.from((await hostKey()).split(' ')[1] ?? '', 'base64'),
    )
    const transport = closing(createScpTransport(sshOptions({ knownHostsPath: knownHosts })))

    const error = await rejection(transport.stat('x'), 'TRANSPORT_IO')
    expect(error.cause).toMatchObject({ code: 'SSH_HOST_KEY_UNKNOWN' })
    expect(error.message).toContain(`on ${TARGET}: ssh ${TARGET}: host key is not known`)
    expect(error.message).toContain(`ssh-ed25519 key ${fingerprint}`)
  })

  it('refuses a changed host key, showing its fingerprint', async () => {
    const dir = await localDirectory()
    const other = await readFile(`${await generateKey(dir)}.pub`, 'utf8')
    const knownHosts = join(dir, 'known_hosts')
    await writeFile(
      knownHosts,
      `[${env.TESTENV_SSH_HOST}]:${env.TESTENV_SSH_PORT} ${other.split(' ').slice(0, 2).join(' ')}\n`,
    )
    const transport = closing(createScpTransport(sshOptions({ knownHostsPath: knownHosts })))

    const error = await rejection(transport.stat('x'), 'TRANSPORT_IO')
    expect(error.cause).toMatchObject({ code: 'SSH_HOST_KEY_CHANGED' })
    expect(error.message).toMatch(
      /host key has CHANGED: the server offered ssh-ed25519 key SHA256:/,
    )
  })

  it('accepts any host key when checking is turned off explicitly', async () => {
    const knownHosts = join(await localDirectory(), 'known_hosts')
    await writeFile(knownHosts, '')
    const transport = closing(
      createScpTransport(
        sshOptions({
          path: remoteDirectory(),
          knownHostsPath: knownHosts,
          strictHostKeyChecking: false,
        }),
      ),
    )
    await roundTrip(transport)
  })
})

describe('scp transport: unreachable hosts', () => {
  it('names the host and the path when nothing listens on the port', async () => {
    const transport = closing(createScpTransport(sshOptions({ port: 2299, path: '/srv/x' })))
    const error = await rejection(transport.list('a'), 'TRANSPORT_IO')
    expect(error.message).toMatch(
      `[transship] [scp] cannot list "a" at /srv/x/a on root@${env.TESTENV_SSH_HOST}:2299: ssh root@${env.TESTENV_SSH_HOST}:2299: connect ECONNREFUSED`,
    )
    expect(error.cause).toMatchObject({ code: 'SSH_CONNECT_FAILED' })
  })

  it('names the host when its name does not resolve', async () => {
    const transport = closing(
      createScpTransport(sshOptions({ host: 'no-such-host.invalid', path: '/srv/x' })),
    )
    const error = await rejection(transport.get('a'), 'TRANSPORT_IO')
    expect(error.message).toMatch(/at \/srv\/x\/a on root@no-such-host\.invalid:2222: .*ENOTFOUND/)
  })

  it('gives up after the connect timeout', async () => {
    // A TCP server that accepts and never speaks SSH.
    const { createServer } = await import('node:net')
    const server = createServer(() => {}).listen(0, '127.0.0.1')
    await once(server, 'listening')
    afterTest(async () => {
      server.close()
    })
    const port = (server.address() as { port: number }).port
    const transport = closing(
      createScpTransport(sshOptions({ host: '127.0.0.1', port, connectTimeout: 500 })),
    )
    const started = Date.now()
    const error = await rejection(transport.stat('a'), 'TRANSPORT_IO')
    expect(Date.now() - started).toBeLessThan(5000)
    expect(error.message).toMatch(/on root@127\.0\.0\.1:\d+: .*[Tt]imed out/)
  })
})

describe('scp transport: servers without SFTP', () => {
  it('says so when SFTP is required', async () => {
    const transport = closing(
      createScpTransport(
        sshOptions({ port: Number(env.TESTENV_SSH_NOSFTP_PORT), protocol: 'sftp' }),
      ),
    )
    const error = await rejection(transport.stat('a'), 'TRANSPORT_IO')
    expect(error.message).toMatch(/the server offers no SFTP subsystem/)
  })

  it('quotes paths for the shell', async () => {
    const dir = `${remoteDirectory()}/it's a $(dir) "with" spaces`
    const transport = closing(
      createScpTransport(sshOptions({ port: Number(env.TESTENV_SSH_NOSFTP_PORT), path: dir })),
    )
    await roundTrip(transport)
    expect(await remoteTree(dir)).toEqual(['a', 'a/b'])
    await transport.remove('a')
    expect(await onHostB(`ls -A ${quote(dir)}`)).toBe('')
  })
})

describe('scp transport: the way data goes (auto)', () => {
  it('streams a large put through cat after the threshold, and a large get through cat', async () => {
    const dir = remoteDirectory()
    const transport = closing(
      createScpTransport(sshOptions({ path: dir, commandThreshold: 1024 * 1024 })),
    )
    const holders = async (path: (name: string) => boolean) =>
      Promise.all((await processesHolding(path)).map(async (pid) => (await processInfo(pid)).comm))

    const body = new PassThrough()
    const putting = transport.put('artifact', body)
    // cat takes over once its shell has answered, at the body's next chunk.
    let sent = 0
    await expect
      .poll(
        () => {
          body.write(Buffer.alloc(1024 * 1024, 1))
          sent += 1024 * 1024
          return holders((path) => path.startsWith(`${dir}/.artifact.partial-`))
        },
        { timeout: 10_000, interval: 100 },
      )
      .toContain('cat')
    body.end(Buffer.alloc(29 * 1024 * 1024, 2))
    const size = sent + 29 * 1024 * 1024
    expect(await putting).toMatchObject({ size })

    // Not read meanwhile: cat holds the file until the window lets it go on.
    const stream = await transport.get('artifact')
    await expect.poll(() => holders((path) => path === `${dir}/artifact`)).toContain('cat')
    expect(await drainToHash(stream)).toMatchObject({ size })

    // Below the threshold, SFTP alone: no command runs.
    await transport.put('small', Readable.from([Buffer.alloc(1000)]))
    expect(await drainToHash(await transport.get('small'))).toMatchObject({ size: 1000 })
  })

  it('keeps to SFTP for an account where commands do not run (nologin)', async () => {
    const dir = remoteDirectory()
    await onHostB(`mkdir -m 777 ${quote(dir)}`)
    const transport = closing(
      createScpTransport(
        sshOptions({
          username: env.TESTENV_SSH_SFTP_ONLY_USER,
          path: dir,
          commandThreshold: 1024 * 1024,
        }),
      ),
    )
    const artifact = await randomArtifact(4 * 1024 * 1024, 'sftp only')
    const expected = { size: artifact.size, sha256: artifact.sha256 }
    const started = Date.now()
    await transport.put('a', artifact.stream(), expected)
    expect(await drainToHash(await transport.get('a'))).toEqual(expected)
    await transport.put('b', artifact.stream(), expected)
    // The shell's refusal comes at once: nothing waits for its answer.
    expect(Date.now() - started).toBeLessThan(8000)
    expect(await transport.list('')).toMatchObject([
      { key: 'a', size: artifact.size },
      { key: 'b', size: artifact.size },
    ])
  })
})
