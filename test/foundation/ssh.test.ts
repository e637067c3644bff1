import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Client, type SFTPWrapper } from 'ssh2'
import { describe, expect, it } from 'vitest'
import { testEnv } from '../support/testenv.js'

const env = testEnv()

/** The SHA256 fingerprints known_hosts lists for [host]:port, as OpenSSH prints them. */
function knownFingerprints(knownHostsPath: string, host: string, port: string): string[] {
  return readFileSync(knownHostsPath, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([hosts]) => hosts?.split(',').includes(`[${host}]:${port}`))
    .map(([, , key]) => fingerprint(Buffer.from(key ?? '', 'base64')))
}

function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

function connect(trusted: string[]): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    client
      .on('ready', () => resolve(client))
      .on('error', reject)
      .connect({
        host: env.TESTENV_SSH_HOST,
        port: Number(env.TESTENV_SSH_PORT),
        username: env.TESTENV_SSH_USER,
        privateKey: readFileSync(env.TESTENV_SSH_KEY),
        hostVerifier: (key: Buffer) => trusted.includes(fingerprint(key)),
      })
  })
}

function sftp(client: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) =>
    client.sftp((error, session) => (error ? reject(error) : resolve(session))),
  )
}

describe('the SSH server on host B', () => {
  const trusted = knownFingerprints(
    env.TESTENV_SSH_KNOWN_HOSTS,
    env.TESTENV_SSH_HOST,
    env.TESTENV_SSH_PORT,
  )

  it('opens an SFTP session when the host key matches known_hosts', async () => {
    expect(trusted).toHaveLength(1)
    const client = await connect(trusted)
    try {
      const session = await sftp(client)
      const path = `/tmp/transship-test-${process.pid}`
      await new Promise<void>((resolve, reject) =>
        session.writeFile(path, 'over sftp', (e) => (e ? reject(e) : resolve())),
      )
      const back = await new Promise<Buffer>((resolve, reject) =>
        session.readFile(path, (e, data) => (e ? reject(e) : resolve(data))),
      )
      await new Promise<void>((resolve, reject) =>
        session.unlink(path, (e) => (e ? reject(e) : resolve())),
      )
      expect(back.toString()).toBe('over sftp')
    } finally {
      client.end()
    }
  })

  it('is refused when the host key is not the known one', async () => {
    await expect(connect(['SHA256:not-this-key'])).rejects.toThrow(/verification failed/i)
  })
})
