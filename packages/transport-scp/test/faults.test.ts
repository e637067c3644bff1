import { PassThrough } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { drainToHash, randomArtifact } from '@transship/core/testing'
import { describe, expect, it } from 'vitest'
import { createScpTransport, type ScpTransportOptions } from '../src/index.js'
import {
  closing,
  env,
  noSftpOptions,
  onHostB,
  processesHolding,
  processInfo,
  quote,
  rejection,
  remoteDirectory,
  remoteTree,
  sshOptions,
} from './support.js'

const SERVERS = [
  {
    // Transfers from 1 MiB stream through `cat`, as the default does from 64 MiB.
    label: 'with SFTP (auto)',
    options: (overrides: Partial<ScpTransportOptions>) =>
      sshOptions({ commandThreshold: 1024 * 1024, ...overrides }),
    port: env.TESTENV_SSH_PORT,
  },
  {
    label: 'with SFTP only',
    options: (overrides: Partial<ScpTransportOptions>) =>
      sshOptions({ protocol: 'sftp', ...overrides }),
    port: env.TESTENV_SSH_PORT,
  },
  { label: 'without SFTP', options: noSftpOptions, port: env.TESTENV_SSH_NOSFTP_PORT },
] as const

/**
 * The sshd process of the SSH connection `pid` runs in: the child of sshd's listener that
 * `pid` descends from. Killing it drops the connection, as a crash or a reboot would.
 */
async function connectionProcessOf(pid: number): Promise<number> {
  for (let current = pid; current > 1; ) {
    const { parent } = await processInfo(current)
    if ((await processInfo(parent)).cmdline.includes('[listener]')) return current
    current = parent
  }
  throw new Error(`process ${pid} runs in no SSH connection`)
}

/**
 * Kills, from the server side, the process that has a file open whose path `matches`, or
 * the SSH connection it runs in (`connection`), with SIGKILL: no goodbye. Waits for such
 * a file to be open.
 */
async function killHolder(
  matches: (path: string) => boolean,
  what: 'connection' | 'process',
): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const [holder] = await processesHolding(matches)
    if (holder !== undefined) {
      process.kill(what === 'connection' ? await connectionProcessOf(holder) : holder, 'SIGKILL')
      return
    }
    await delay(50)
  }
  throw new Error('no process opened the file')
}

/** Kills the SSH connection that has a file open whose path `matches`. */
const killSessionHolding = (matches: (path: string) => boolean) => killHolder(matches, 'connection')

describe.each(SERVERS)('scp transport faults $label', ({ options, port }) => {
  const target = `root@${env.TESTENV_SSH_HOST}:${port}`

  it('restarts a put whose connection was killed mid-transfer, and never shows the partial file', async () => {
    const dir = remoteDirectory()
    const transport = closing(createScpTransport(options({ path: dir })))
    const body = new PassThrough()
    const putting = transport.put('backup/artifact', body)
    const feeding = (async () => {
      for (let sent = 0; sent < 64 && !body.destroyed; sent++) {
        if (!body.write(Buffer.alloc(1024 * 1024, sent))) await delay(20)
      }
    })()

    await killSessionHolding((path) => path.startsWith(`${dir}/backup/.artifact.partial-`))
    const error = await rejection(putting, 'TRANSPORT_IO')
    expect(error.message).toContain(`cannot put "backup/artifact" at ${dir}/backup/artifact on`)
    expect(error.message).toContain(target)
    await feeding

    // The next calls connect again; the partial file is nowhere to be seen, then removed.
    expect(await transport.stat('backup/artifact')).toBeUndefined()
    expect(await transport.list('')).toEqual([])
    await rejection(transport.get('backup/artifact'), 'TRANSPORT_NOT_FOUND')
    expect(await remoteTree(dir)).toEqual(['backup'])

    const artifact = await randomArtifact(8 * 1024 * 1024, 'retry')
    const expected = { size: artifact.size, sha256: artifact.sha256 }
    expect(await transport.put('backup/artifact', artifact.stream(), expected)).toMatchObject({
      size: artifact.size,
    })
    expect(await drainToHash(await transport.get('backup/artifact'))).toEqual(expected)
    expect(await remoteTree(dir)).toEqual(['backup', 'backup/artifact'])
  })

  it('fails a get whose connection was killed mid-transfer rather than end it early', async () => {
    const dir = remoteDirectory()
    const transport = closing(createScpTransport(options({ path: dir })))
    const artifact = await randomArtifact(64 * 1024 * 1024, 'interrupted get')
    await transport.put('artifact', artifact.stream())

    const stream = await transport.get('artifact')
    let received = 0
    const reading = (async () => {
      for await (const chunk of stream) {
        received += chunk.length
        // Slowly: the transfer must still be under way when the connection is killed.
        await delay(10)
      }
    })()
    await killSessionHolding((path) => path === `${dir}/artifact`)
    const error = await rejection(reading, 'TRANSPORT_IO')
    expect(error.message).toContain(`cannot get "artifact" at ${dir}/artifact on ${target}`)
    expect(received).toBeLessThan(artifact.size)

    // A retry connects again and reads the whole artifact.
    expect(await drainToHash(await transport.get('artifact'))).toEqual({
      size: artifact.size,
      sha256: artifact.sha256,
    })
  })

  describe('as an unprivileged user', () => {
    const asUser = (path: string): ScpTransportOptions => ({
      ...options({ path }),
      username: env.TESTENV_SSH_TEST_USER,
    })
    const userTarget = `${env.TESTENV_SSH_TEST_USER}@${env.TESTENV_SSH_HOST}:${port}`

    it('reports permission denied on the path, naming it and the host', async () => {
      const dir = remoteDirectory()
      await onHostB(
        `mkdir -m 755 ${quote(dir)} && mkdir -m 700 ${quote(`${dir}/private`)} && ` +
          `echo secret > ${quote(`${dir}/secret`)} && chmod 600 ${quote(`${dir}/secret`)}`,
      )
      const transport = closing(createScpTransport(asUser(dir)))

      const put = await rejection(
        transport.put('backup/artifact', (await randomArtifact(1000)).stream()),
        'TRANSPORT_IO',
      )
      expect(put.message).toMatch(
        `[transship] [scp] cannot put "backup/artifact" at ${dir}/backup/artifact on ${userTarget}: permission denied`,
      )
      const get = await rejection(transport.get('secret'), 'TRANSPORT_IO')
      expect(get.message).toMatch(
        `cannot get "secret" at ${dir}/secret on ${userTarget}: permission denied`,
      )
      const list = await rejection(transport.list('private'), 'TRANSPORT_IO')
      expect(list.message).toMatch(
        `cannot list "private" at ${dir}/private on ${userTarget}: permission denied`,
      )
      const stat = await rejection(transport.stat('private/x'), 'TRANSPORT_IO')
      expect(stat.message).toMatch(/permission denied/)
      expect(await remoteTree(dir)).toEqual(['private', 'secret'])
    })

    it('creates directories 0700 and files 0600, temporary files included', async () => {
      const dir = remoteDirectory()
      const transport = closing(createScpTransport(asUser(`${dir}/staging`)))
      await onHostB(`mkdir -m 777 ${quote(dir)}`)
      const body = new PassThrough()
      const putting = transport.put('backup/volumes/0.tar', body)
      body.write(Buffer.alloc(300_000))
      await expect
        .poll(() => remoteTree(`${dir}/staging`), { timeout: 10_000 })
        .toContainEqual(expect.stringMatching(/^backup\/volumes\/\.0\.tar\.partial-/))
      const modes = async () =>
        (await onHostB(`cd ${quote(dir)} && find staging -exec stat -c '%a %U %n' {} +`))
          .trim()
          .split('\n')
          .sort()
      expect(await modes()).toEqual([
        expect.stringMatching(/^600 transship-test staging\/backup\/volumes\/\.0\.tar\.partial-/),
        '700 transship-test staging',
        '700 transship-test staging/backup',
        '700 transship-test staging/backup/volumes',
      ])
      body.end()
      await putting
      expect(await modes()).toEqual([
        '600 transship-test staging/backup/volumes/0.tar',
        '700 transship-test staging',
        '700 transship-test staging/backup',
        '700 transship-test staging/backup/volumes',
      ])
    })
  })

  it('reports a full disk, naming the path and the host, and leaves nothing behind', async () => {
    const dir = remoteDirectory(env.TESTENV_SSH_SMALL_FS)
    const transport = closing(createScpTransport(options({ path: dir })))
    const tooLarge = await randomArtifact(2 * Number(env.TESTENV_SSH_SMALL_FS_BYTES), 'too large')

    const error = await rejection(
      transport.put('backup/artifact', tooLarge.stream()),
      'TRANSPORT_IO',
    )
    expect(error.message).toMatch(
      `[transship] [scp] cannot put "backup/artifact" at ${dir}/backup/artifact on ${target}: no space left on the device`,
    )
    expect(await transport.list('')).toEqual([])
    expect(await onHostB(`find ${quote(dir)} -type f`)).toBe('')

    // The space is free again for what fits.
    const small = await randomArtifact(1024 * 1024, 'fits')
    await transport.put('backup/artifact', small.stream(), { sha256: small.sha256 })
    expect(await transport.list('')).toMatchObject([{ key: 'backup/artifact', size: small.size }])
  })
})

describe('scp transport faults over SFTP', () => {
  it('opens a new SFTP session when the server ends the one a put was using', async () => {
    const dir = remoteDirectory()
    const transport = closing(createScpTransport(sshOptions({ path: dir, protocol: 'sftp' })))
    await transport.put('first', (await randomArtifact(10)).stream())
    const body = new PassThrough()
    const putting = transport.put('artifact', body)
    body.write(Buffer.alloc(1024 * 1024))

    // The SFTP server process itself (internal-sftp runs in an sshd child), not the connection.
    await killHolder((path) => path.startsWith(`${dir}/.artifact.partial-`), 'process')
    const error = await rejection(putting, 'TRANSPORT_IO')
    expect(error.message).toMatch(/the SFTP session ended|No response from server/)

    expect(await transport.list('')).toMatchObject([{ key: 'first', size: 10 }])
    const artifact = await randomArtifact(1024 * 1024, 'after')
    await transport.put('artifact', artifact.stream(), { sha256: artifact.sha256 })
    expect(await remoteTree(dir)).toEqual(['artifact', 'first'])
  })
})
