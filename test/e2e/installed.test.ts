import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeLabelled } from '../support/cleanup.js'
import { createIdleContainer } from '../support/containers.js'
import { dockerAt, execIn, TEST_LABEL } from '../support/docker.js'
import { expectRedisStateOnB, redisWithState } from '../support/redis.js'
import { testEnv } from '../support/testenv.js'

/**
 * transship as a user installs it before it is published: `pnpm build`, `pnpm pack:all DIR`,
 * then `npm install -g DIR/*.tgz` from an empty directory outside the clone. The installed
 * command runs from outside the clone, with nothing of the clone on its PATH, and migrates
 * containers A → B cold and with a checkpoint. (How fast it starts is `pnpm bench startup`'s.)
 */
const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/installed' }
const run = randomBytes(3).toString('hex')
const COLD = `transship-installed-cold-${run}`
const REDIS = `transship-installed-redis-${run}`
const REDIS_VOLUME = `transship-installed-redis-${run}`
/** What transship warns when it cannot find its helper program for an engine. */
const NO_HELPER = /helper program is not built/

/** How a command ended. */
interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end; a non-zero exit is a result, not an error. */
function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { ...options, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? error.code : 0
        if (typeof code !== 'number') reject(error)
        else resolve({ code, stdout, stderr })
      },
    )
  })
}

/**
 * The environment the installed command runs in: this one without what ties it to the
 * clone: no PATH entry inside it (node_modules/.bin), no NODE_OPTIONS or NODE_PATH, none of
 * the npm_* variables pnpm sets; no DOCKER_HOST or DEBUG (every engine is given).
 */
function outsideEnv(): NodeJS.ProcessEnv {
  const cleaned = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) =>
        !/^npm_/i.test(key) && !['NODE_OPTIONS', 'NODE_PATH', 'DOCKER_HOST', 'DEBUG'].includes(key),
    ),
  )
  const path = [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter)].filter(
    (entry) => entry !== '' && !entry.startsWith(ROOT),
  )
  return { ...cleaned, PATH: [...new Set(path)].join(delimiter) }
}

describe('transship installed from the packed tarballs', () => {
  const work = mkdtempSync(join(tmpdir(), 'transship-installed-'))
  const tarballs = join(work, 'tarballs')
  const prefix = join(work, 'prefix')
  const outside = join(work, 'cwd')
  const transshipBin = join(prefix, 'bin', 'transship')
  const installed = join(prefix, 'lib', 'node_modules', '@transship', 'cli')
  let npmLog = ''

  /** Runs the installed `transship` from an empty directory outside the clone. */
  const transship = (args: readonly string[]) =>
    runCommand(transshipBin, args, { cwd: outside, env: outsideEnv() })

  beforeAll(async () => {
    mkdirSync(outside)
    const build = await runCommand('pnpm', ['build'], { cwd: ROOT, env: process.env })
    expect(build.code, build.stderr).toBe(0)
    const pack = await runCommand('pnpm', ['pack:all', tarballs], { cwd: ROOT, env: process.env })
    expect(pack.code, pack.stderr).toBe(0)
    const files = readdirSync(tarballs)
      .filter((name) => name.endsWith('.tgz'))
      .map((name) => join(tarballs, name))
    // As .ci/run sets it: ssh2 builds its native binding against the Node headers in /usr.
    const install = await runCommand(
      'npm',
      ['install', '-g', '--prefix', prefix, '--loglevel', 'http', ...files],
      { cwd: outside, env: { ...outsideEnv(), npm_config_nodedir: '/usr' } },
    )
    npmLog = install.stderr
    expect(install.code, install.stderr).toBe(0)
  }, 300_000)

  afterAll(async () => {
    await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
    for (const docker of [A, B]) {
      await docker
        .getContainer(REDIS)
        .remove({ force: true, v: true })
        .catch(() => {})
      await docker
        .getVolume(REDIS_VOLUME)
        .remove()
        .catch(() => {})
    }
    rmSync(work, { recursive: true, force: true })
  })

  it('installs the command alone: no @transship package from a registry, the helper programs built', () => {
    expect(npmLog).not.toMatch(/GET \d+ \S*@transship/)
    expect(realpathSync(transshipBin).startsWith(installed)).toBe(true)
    expect(existsSync(join(installed, 'node_modules', '@transship'))).toBe(false)
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>
    }
    // Exact versions: the bundle holds the rest; these were pinned from pnpm-lock.yaml.
    for (const version of Object.values(manifest.dependencies)) {
      expect(version).toMatch(/^\d+\.\d+\.\d+$/)
    }
    const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64'
    expect(existsSync(join(installed, 'dist', `transship-helper-linux-${arch}`))).toBe(true)
  })

  it('installs zstd-napi with its binding built, told to build from its sources', () => {
    // .prebuild-installrc beside the package turns off prebuild-install's GitHub download.
    expect(existsSync(join(installed, '.prebuild-installrc'))).toBe(true)
    const binding = join(installed, 'node_modules/zstd-napi/build/Release/binding.node')
    expect(existsSync(binding)).toBe(true)
  })

  it('--version prints the installed package version', async () => {
    const { version } = JSON.parse(
      readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8'),
    ) as { version: string }
    const result = await transship(['--version'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe(version)
  })

  it('--help lists the commands', async () => {
    const result = await transship(['--help'])
    expect(result.code, result.stderr).toBe(0)
    for (const command of ['migrate', 'backup', 'restore', 'doctor', 'recover']) {
      expect(result.stdout).toContain(command)
    }
  })

  it('doctor finds engine A ready', async () => {
    const result = await transship(['doctor', '--host', env.TESTENV_HOST_A])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^ready/m)
  })

  it('migrates a container cold, its volume and layer with it, through the helper program', async () => {
    const source = await createIdleContainer(A, {
      name: COLD,
      image: env.TESTENV_IMAGE_BUSYBOX,
      labels: LABELS,
      mounts: [{ Type: 'volume', Source: COLD, Target: '/data' }],
    })
    await source.start()
    const written = await execIn(source, ['sh', '-c', `echo ${run} > /data/v && echo ${run} > /l`])
    expect(written.exitCode, written.stderr).toBe(0)

    const result = await transship([
      'migrate',
      COLD,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--no-checkpoint',
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout + result.stderr).not.toMatch(NO_HELPER)
    const target = B.getContainer(COLD)
    expect((await target.inspect()).State.Running).toBe(true)
    expect((await execIn(target, ['cat', '/data/v', '/l'])).stdout).toBe(`${run}\n${run}\n`)
  })

  it('migrates a running redis with a checkpoint, its memory included', async () => {
    await redisWithState(REDIS, REDIS_VOLUME)
    const result = await transship([
      'migrate',
      REDIS,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout + result.stderr).not.toMatch(NO_HELPER)
    await expectRedisStateOnB(REDIS)
  })
})
