import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { testEnv } from '../../../test/support/testenv.js'
import { connectEngine, type EngineClient, type EngineOptions } from '../src/index.js'

// Integration tests: they need `pnpm testenv up`, and fail (never skip) without it.
const env = testEnv()
const sshOptions: EngineOptions = {
  ssh: {
    identityFiles: [env.TESTENV_SSH_KEY],
    knownHostsPath: env.TESTENV_SSH_KNOWN_HOSTS,
    agent: false,
  },
}
const scratch = mkdtempSync(join(tmpdir(), 'transship-engine-test-'))

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

async function withEngine<T>(
  url: string,
  options: EngineOptions,
  use: (engine: EngineClient) => Promise<T>,
): Promise<T> {
  const engine = await connectEngine(url, options)
  try {
    return await use(engine)
  } finally {
    await engine.close()
  }
}

const engineId = (url: string, options: EngineOptions = {}) =>
  withEngine(url, options, async (engine) => (await engine.info()).ID)

/** The fingerprint OpenSSH computes for the test host's key. */
function sshdFingerprint(): string {
  const listing = execFileSync('ssh-keygen', ['-lf', env.TESTENV_SSH_KNOWN_HOSTS], {
    encoding: 'utf8',
  })
  const fingerprint = /SHA256:\S+/.exec(listing)?.[0]
  if (!fingerprint) throw new Error(`no fingerprint in ssh-keygen output: ${listing}`)
  return fingerprint
}

describe('an ssh:// engine', () => {
  it('reaches engine B, not engine A', async () => {
    const [viaSsh, b, a] = await Promise.all([
      engineId(env.TESTENV_HOST_B_SSH, sshOptions),
      engineId(env.TESTENV_HOST_B),
      engineId(env.TESTENV_HOST_A),
    ])
    expect(viaSsh).toBe(b)
    expect(viaSsh).not.toBe(a)
  })

  it('resolves a host alias through an OpenSSH config file', async () => {
    const socketPath = new URL(env.TESTENV_HOST_B_SSH).pathname
    const viaAlias = await engineId(`ssh://${env.TESTENV_SSH_ALIAS}${socketPath}`, {
      ssh: { configPath: env.TESTENV_SSH_CONFIG, agent: false },
    })
    expect(viaAlias).toBe(await engineId(env.TESTENV_HOST_B))
  })

  it('carries every call over one connection, at a fraction of a per-call SSH handshake', async () => {
    await withEngine(env.TESTENV_HOST_B_SSH, sshOptions, async (engine) => {
      const started = performance.now()
      for (let i = 0; i < 20; i++) await engine.version()
      const perCall = (performance.now() - started) / 20
      // dockerode's own ssh mode: 350-480 ms a call here (toolchain.md).
      expect(perCall).toBeLessThan(150)
    })
  })

  it('refuses a host key that known_hosts records differently, showing its fingerprint', async () => {
    const wrongKnownHosts = join(scratch, 'wrong_known_hosts')
    // Another ed25519 key (made with ssh-keygen) recorded for the same [host]:port.
    writeFileSync(
      wrongKnownHosts,
      `[${env.TESTENV_SSH_HOST}]:${env.TESTENV_SSH_PORT} ssh-ed25519 ` +
        'AAAAC3NzaC1lZDI1NTE5AAAAIKjtUlgA3mMMtNXHmJRYV3VWAHyXdDTk5JZOQqFWGS3v\n',
    )
    const error = await connectEngine(env.TESTENV_HOST_B_SSH, {
      ssh: { ...sshOptions.ssh, knownHostsPath: wrongKnownHosts },
    }).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'SSH_HOST_KEY_CHANGED' })
    const { message } = error as Error
    expect(message).toContain(sshdFingerprint())
    expect(message).toContain(`${env.TESTENV_SSH_HOST}:${env.TESTENV_SSH_PORT}`)
    expect(message).toContain(`${wrongKnownHosts}:1`)
  })

  it('refuses a host that known_hosts does not list, showing its fingerprint', async () => {
    const emptyKnownHosts = join(scratch, 'empty_known_hosts')
    writeFileSync(emptyKnownHosts, '')
    const error = await connectEngine(env.TESTENV_HOST_B_SSH, {
      ssh: { ...sshOptions.ssh, knownHostsPath: emptyKnownHosts },
    }).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'SSH_HOST_KEY_UNKNOWN' })
    expect((error as Error).message).toContain(sshdFingerprint())
    expect((error as Error).message).toContain(env.TESTENV_SSH_HOST)
  })

  it('accepts an unknown host key only when strict checking is explicitly off', async () => {
    const id = await engineId(env.TESTENV_HOST_B_SSH, {
      ssh: { ...sshOptions.ssh, knownHostsPath: '/dev/null', strictHostKeyChecking: false },
    })
    expect(id).toBe(await engineId(env.TESTENV_HOST_B))
  })

  it('names the engine and the call when the remote socket does not exist', async () => {
    const url = `ssh://${env.TESTENV_SSH_USER}@${env.TESTENV_SSH_HOST}:${env.TESTENV_SSH_PORT}/run/no-such-docker.sock`
    const error = await withEngine(url, sshOptions, (engine) => engine.info()).catch(
      (caught: unknown) => caught,
    )
    expect(error).toMatchObject({ code: 'ENGINE_UNREACHABLE' })
    expect((error as Error).message).toContain(`[transship] engine ${url}: info failed`)
  })
})

describe('engine call errors', () => {
  it('say which engine and which call failed, with a short container id', async () => {
    const id = 'f'.repeat(64)
    const error = await withEngine(env.TESTENV_HOST_A, {}, (engine) =>
      engine.inspectContainer(id),
    ).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'ENGINE_NOT_FOUND' })
    expect((error as Error).message).toMatch(
      `[transship] engine ${env.TESTENV_HOST_A}: inspect container ffffffffffff failed: HTTP 404: No such container`,
    )
    expect((error as Error).cause).toMatchObject({ statusCode: 404 })
  })

  it('tell an engine that is not there from one that answers', async () => {
    const error = await withEngine('unix:///run/transship-no-such-engine.sock', {}, (engine) =>
      engine.version(),
    ).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'ENGINE_UNREACHABLE' })
  })
})

describe('creating a container', () => {
  it('aborted while the engine creates it: the call rejects, and the container is removed', async () => {
    const label = `transship.test-aborted-create-${process.pid}`
    await withEngine(env.TESTENV_HOST_A, {}, async (engine) => {
      const controller = new AbortController()
      const creating = engine.createContainer({
        Image: 'transship-test/busybox',
        Labels: { [label]: '' },
        abortSignal: controller.signal,
      })
      // The request has left: an abort now would otherwise orphan what the engine makes.
      setImmediate(() => controller.abort(new Error('stop here')))
      await expect(creating).rejects.toThrow('stop here')
      const left = await engine.docker.listContainers({ all: true, filters: { label: [label] } })
      expect(left).toEqual([])
    })
  })
})
