import { randomBytes, randomInt } from 'node:crypto'
import type Docker from 'dockerode'
import { afterEach, describe, expect, it } from 'vitest'
import { type CliResult, errorLines, lastStdoutLine, linesOf, transship } from '../support/cli.js'
import { dockerCompose, projectEvents, projectMove } from '../support/compose.js'
import { IDLE_COMMAND } from '../support/containers.js'
import { dockerAt, execIn, removeTestContainersAndVolumes, TEST_LABEL } from '../support/docker.js'
import { objectsUnder, testS3, testS3Environment, uniqueS3Prefix } from '../support/s3.js'
import { StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

/**
 * Groups (issue 17, item 1): a compose project brought up by Debian 12's docker-compose
 * (1.29: v1 labels, `proj_svc_1` names) moves A → B with `--project` in one freeze window
 * (the engines' `die` and `start` events), dependencies started first, the shared volume
 * copied once, the network made again with its aliases, compose's labels kept, so that
 * docker-compose on B lists every service Up; a failure in the last service's start puts
 * the whole group back. A project carrying compose v2's labels (`depends_on`) is ordered
 * by them, through staging.
 */
const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const run = randomBytes(3).toString('hex')
const projects: string[] = []
const volumes: string[] = []
/** Networks made by hand (not by docker-compose), removed once their containers are. */
const networks: string[] = []
const staging = new StagingDirs('transship-groups')
const aws = testS3Environment()

interface StageLine {
  type: string
  hook?: string
  stage?: string
  container?: string
  artifact?: string
  members?: { container: string; target?: { name: string } }[]
  downtime?: { totalMs: number }
}

/** Brings up the shop project on A, with a key only in redis's memory and a file in the shared volume. */
async function shopOnA(tag: string, workerPort: number): Promise<string> {
  const project = `shop${tag}${run}`
  projects.push(project)
  volumes.push(`${project}_shared`)
  await dockerCompose(env.TESTENV_HOST_A, project, ['up', '-d'], {
    SHOP_WORKER_PORT: String(workerPort),
  })
  const redis = hostA.getContainer(`${project}_redis_1`)
  await expect
    .poll(async () => (await execIn(redis, ['redis-cli', 'ping'])).stdout.trim())
    .toBe('PONG')
  await execIn(redis, ['redis-cli', 'set', 'only-in-memory', project])
  await execIn(hostA.getContainer(`${project}_app_1`), [
    'sh',
    '-c',
    `echo ${project} > /shared/written-by-app`,
  ])
  return project
}

/** The shop project's containers as docker-compose 1.29 names them: redis, app, worker. */
function shopContainers(project: string): [string, string, string] {
  return [`${project}_redis_1`, `${project}_app_1`, `${project}_worker_1`]
}

function migrate(args: readonly string[]): Promise<CliResult> {
  return transship([
    'migrate',
    ...args,
    '--from',
    env.TESTENV_HOST_A,
    '--to',
    env.TESTENV_HOST_B,
    '--json',
  ])
}

function eventsOf(result: CliResult): StageLine[] {
  return linesOf(result.stdout).map((line) => JSON.parse(line) as StageLine)
}

/** The containers, in the order a stage started for each. */
function orderOf(events: readonly StageLine[], stage: string): string[] {
  return events
    .filter((event) => event.type === 'stage-started' && event.stage === stage)
    .map((event) => event.container ?? '?')
}

/** docker-compose on B, with the project's file, lists each container Up. */
async function expectUpOnB(project: string, names: readonly string[]): Promise<void> {
  const ps = linesOf(await dockerCompose(env.TESTENV_HOST_B, project, ['ps']))
  for (const name of names) {
    expect(
      ps.find((line) => line.startsWith(`${name} `)),
      ps.join('\n'),
    ).toMatch(/\bUp\b/)
  }
}

async function labelsOf(docker: Docker, name: string): Promise<Record<string, string>> {
  return (await docker.getContainer(name).inspect()).Config.Labels ?? {}
}

async function redisGet(docker: Docker, name: string): Promise<string> {
  return (
    await execIn(docker.getContainer(name), ['redis-cli', 'get', 'only-in-memory'])
  ).stdout.trim()
}

afterEach(async () => {
  for (const project of projects.splice(0)) {
    for (const host of [env.TESTENV_HOST_A, env.TESTENV_HOST_B]) {
      await dockerCompose(host, project, ['down', '-v', '--timeout', '1']).catch(() => {})
    }
  }
  await removeTestContainersAndVolumes([hostA, hostB], volumes.splice(0))
  for (const network of networks.splice(0)) {
    await Promise.all(
      [hostA, hostB].map((docker) =>
        docker
          .getNetwork(network)
          .remove()
          .catch((error: { statusCode?: number }) => {
            if (error.statusCode !== 404) throw error
          }),
      ),
    )
  }
  await staging.removeAll()
})

describe('migrate --project (a docker-compose 1.29 project)', () => {
  it('moves every service in one freeze window: dependencies first, the shared volume once, the aliases, the labels; docker-compose on B lists them Up', async () => {
    const project = await shopOnA('ok', randomInt(20_000, 30_000))
    const before = Date.now()
    const result = await migrate(['--project', project])
    const after = Date.now()
    expect(result.code, result.stderr).toBe(0)
    const events = eventsOf(result)
    const [redis, app, worker] = shopContainers(project)

    // One freeze window: no target started before the last source was frozen.
    const { died, started, lastDied, firstStarted } = await projectMove(
      hostA,
      hostB,
      project,
      before,
      after,
    )
    expect(new Set(died.map((event) => event.name))).toEqual(new Set([redis, app, worker]))
    expect(new Set(started.map((event) => event.name))).toEqual(new Set([redis, app, worker]))
    expect(lastDied).toBeLessThan(firstStarted)

    // Compose 1.29 records no depends_on: the order is the project's creation order.
    expect(orderOf(events, 'checkpoint')).toEqual([worker, app, redis])
    expect(orderOf(events, 'resume-target')).toEqual([redis, app, worker])
    expect(started.map((event) => event.name)).toEqual([redis, app, worker])

    // The shared volume: copied by one member only, mounted by both.
    const copiers = new Set(
      events
        .filter(
          (event) => event.type === 'progress' && event.artifact?.includes(`${project}_shared`),
        )
        .map((event) => event.container),
    )
    expect([...copiers]).toEqual([app])
    const workerTarget = hostB.getContainer(worker)
    expect((await execIn(workerTarget, ['cat', '/shared/written-by-app'])).stdout.trim()).toBe(
      project,
    )

    // Redis's own post-restore hook (its label) ran in its target, named in the events.
    expect(events.filter((event) => event.type === 'hook').map((event) => event.container)).toEqual(
      [redis],
    )

    // The summary names each member's target.
    const summary = events.at(-1) as StageLine
    expect(summary.type).toBe('summary')
    expect(summary.members?.map((member) => member.target?.name)).toEqual([redis, app, worker])
    expect(summary.downtime?.totalMs).toBeGreaterThan(0)

    // Every service Up on B, as docker-compose sees them with the same file.
    await expectUpOnB(project, [redis, app, worker])
    for (const name of [redis, app, worker]) {
      const labels = await labelsOf(hostA, name)
      expect(await labelsOf(hostB, name)).toMatchObject(labels)
    }

    // Redis kept its in-memory key; the app reaches it by service name and by alias.
    expect(await redisGet(hostB, redis)).toBe(project)
    const appTarget = hostB.getContainer(app)
    for (const host of ['redis', 'cache']) {
      const reply = await execIn(appTarget, [
        'sh',
        '-c',
        `printf 'GET only-in-memory\\r\\n' | nc -w 2 ${host} 6379`,
      ])
      expect(reply.stdout, `${host}: ${reply.stderr}`).toContain(project)
    }
    // The sources stay on A, stopped.
    expect((await hostA.getContainer(redis).inspect()).State.Running).toBe(false)
  })

  it('puts the whole group back when the last service cannot start on B', async () => {
    const port = randomInt(20_000, 30_000)
    const project = await shopOnA('fail', port)
    // The worker's host port is taken on B: its start fails, after the others started.
    const squatter = await hostB.createContainer({
      name: `transship-groups-squatter-${run}`,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['sleep', '600'],
      Labels: TEST_LABEL,
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: String(port) }] } },
    })
    await squatter.start()
    const [redis, app, worker] = shopContainers(project)

    const result = await migrate(['--project', project])
    expect(result.code).not.toBe(0)
    const error = errorLines(result).join('\n')
    expect(error).toContain(worker)
    expect(error).toContain('Undone:')
    // The targets that had started are gone too, and every source runs again on A, from
    // its checkpoint (redis still holds its in-memory key).
    expect(orderOf(eventsOf(result), 'resume-target')).toEqual([redis, app, worker])
    const onB = await hostB.listContainers({
      all: true,
      filters: { label: [`com.docker.compose.project=${project}`] },
    })
    expect(onB.map((container) => container.Names[0])).toEqual([])
    const volumesOnB = (await hostB.listVolumes()).Volumes ?? []
    expect(volumesOnB.map((volume) => volume.Name)).not.toContain(`${project}_shared`)
    const networksOnB = await hostB.listNetworks()
    expect(networksOnB.map((network) => network.Name)).not.toContain(`${project}_backend`)
    for (const name of [redis, app, worker]) {
      expect((await hostA.getContainer(name).inspect()).State.Running, name).toBe(true)
    }
    expect(await redisGet(hostA, redis)).toBe(project)
  })
})

describe('plan --project', () => {
  it('shows the order, and which member copies the shared volume, changing nothing', async () => {
    const project = await shopOnA('plan', randomInt(20_000, 30_000))
    const [redis, app, worker] = shopContainers(project)
    const result = await transship([
      'plan',
      '--project',
      project,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain(
      `frozen in this order: ${worker}, ${app}, ${redis}; then started: ${redis}, ${app}, ${worker}`,
    )
    expect(result.stdout).toMatch(new RegExp(`${project}_shared .* copied\\n`))
    expect(result.stdout).toContain(`copied with ${app}, mounted`)
    expect((await hostA.getContainer(redis).inspect()).State.Running).toBe(true)
    expect(await hostB.listContainers({ all: true, filters: { name: [project] } })).toEqual([])
  })
})

describe('backup --project, then restore of the one URL', () => {
  it('backs up the whole project to S3 in one freeze window, lists it as one backup, restores every service on B, and removes it', async () => {
    const project = await shopOnA('split', randomInt(20_000, 30_000))
    const [redis, app, worker] = shopContainers(project)
    const via = `s3://${testS3().bucket}/${uniqueS3Prefix('groups')}`
    const before = Date.now()
    const backup = await transship(
      ['backup', '--project', project, '--from', env.TESTENV_HOST_A, '--via', via],
      aws,
    )
    expect(backup.code, backup.stderr).toBe(0)
    const died = await projectEvents(hostA, project, ['die'], before, Date.now())
    expect(new Set(died.map((event) => event.name))).toEqual(new Set([redis, app, worker]))
    const url = lastStdoutLine(backup)
    expect(url.startsWith(`${via}/backup-`)).toBe(true)

    const listed = JSON.parse((await transship(['ls', via, '--json'], aws)).stdout)
    expect(listed).toEqual([
      expect.objectContaining({
        url,
        complete: true,
        encrypted: true,
        project,
        members: [redis, app, worker],
      }),
    ])
    // One member's backup per container; the shared volume's content, and the image app and
    // worker both run, in one of them only.
    const keys = [...(await objectsUnder(url)).keys()]
    expect(keys.filter((key) => key.endsWith('/manifest.json'))).toHaveLength(3)
    expect(
      new Set(keys.filter((key) => key.includes('/volumes/')).map((key) => key.split('/').at(-3))),
    ).toEqual(new Set(['1']))
    expect(keys.filter((key) => key.endsWith('/image.tar')).sort()).toEqual([
      '0/image.tar',
      '1/image.tar',
    ])

    const dryRun = await transship(['restore', url, '--to', env.TESTENV_HOST_B, '--dry-run'], aws)
    expect(dryRun.code, dryRun.stderr).toBe(0)
    expect(dryRun.stdout).toContain(
      `a group of 3 containers started in this order: ${redis}, ${app}, ${worker}`,
    )
    expect(dryRun.stdout).toContain(`mounted, made and filled with ${app}`)
    const named = await transship(['restore', url, '--to', env.TESTENV_HOST_B, '--name', 'x'], aws)
    expect(named.code).not.toBe(0)
    expect(errorLines(named).join('\n')).toContain("is a group's: --name x names one target")

    const restored = await transship(['restore', url, '--to', env.TESTENV_HOST_B], aws)
    expect(restored.code, restored.stderr).toBe(0)
    expect(lastStdoutLine(restored)).toContain(`restored ${redis}, ${app}, ${worker}`)
    await expectUpOnB(project, [redis, app, worker])
    expect(await redisGet(hostB, redis)).toBe(project)
    expect(
      (await execIn(hostB.getContainer(worker), ['cat', '/shared/written-by-app'])).stdout.trim(),
    ).toBe(project)

    expect((await transship(['rm', url], aws)).code).toBe(0)
    expect(JSON.parse((await transship(['ls', via, '--json'], aws)).stdout)).toEqual([])
  })
})

describe('migrate a group with compose v2 labels', () => {
  it('starts dependencies first as com.docker.compose.depends_on says, through staging', async () => {
    const project = `v2shop${run}`
    const network = `${project}_default`
    networks.push(network)
    await hostA.createNetwork({
      Name: network,
      Labels: { ...TEST_LABEL, 'com.docker.compose.project': project },
    })
    const labels = (service: string, dependsOn?: string) => ({
      ...TEST_LABEL,
      'com.docker.compose.project': project,
      'com.docker.compose.service': service,
      'com.docker.compose.container-number': '1',
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.version': '2.24.6',
      ...(dependsOn === undefined ? {} : { 'com.docker.compose.depends_on': dependsOn }),
    })
    const endpoint = (service: string) => ({
      EndpointsConfig: { [network]: { Aliases: [service] } },
    })
    // Created in the wrong order: web (which needs db) first, so only the label gives the order.
    const web = `${project}-web-1`
    const db = `${project}-db-1`
    await hostA.createContainer({
      name: web,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
      Labels: labels('web', 'db:service_started:false'),
      HostConfig: { NetworkMode: network },
      NetworkingConfig: endpoint('web'),
    })
    await hostA.createContainer({
      name: db,
      Image: env.TESTENV_IMAGE_REDIS,
      Cmd: ['redis-server', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
      Labels: labels('db'),
      HostConfig: { NetworkMode: network },
      NetworkingConfig: endpoint('db'),
    })
    await hostA.getContainer(db).start()
    await hostA.getContainer(web).start()
    await expect
      .poll(async () => (await execIn(hostA.getContainer(db), ['redis-cli', 'ping'])).stdout.trim())
      .toBe('PONG')
    await execIn(hostA.getContainer(db), ['redis-cli', 'set', 'only-in-memory', project])
    const { url, dir } = await staging.make()

    const result = await migrate(['--project', project, '--via', url])
    expect(result.code, result.stderr).toBe(0)
    const events = eventsOf(result)
    expect(orderOf(events, 'checkpoint')).toEqual([web, db])
    expect(orderOf(events, 'restore-checkpoint')).toEqual([db, web])
    expect(await redisGet(hostB, db)).toBe(project)
    const reply = await execIn(hostB.getContainer(web), [
      'sh',
      '-c',
      "printf 'GET only-in-memory\\r\\n' | nc -w 2 db 6379",
    ])
    expect(reply.stdout).toContain(project)
    expect(await labelsOf(hostB, web)).toMatchObject(labels('web', 'db:service_started:false'))
    // Both members' backups were removed from the staging once the targets ran.
    const { readdir } = await import('node:fs/promises')
    expect(await readdir(dir)).toEqual([])
  })
})

describe("a group whose member shares another's network namespace", () => {
  it("carries NetworkMode container: pointing at the other's target, made first (cold)", async () => {
    const side = `transship-groups-side-${run}`
    const main = `transship-groups-main-${run}`
    const sideContainer = await hostA.createContainer({
      name: side,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: [
        'sh',
        '-c',
        'trap "exit 0" TERM; while :; do echo hello-from-side | nc -l -p 8080 & wait $!; done',
      ],
      Labels: TEST_LABEL,
    })
    await sideContainer.start()
    await (
      await hostA.createContainer({
        name: main,
        Image: env.TESTENV_IMAGE_BUSYBOX,
        Cmd: IDLE_COMMAND,
        Labels: TEST_LABEL,
        HostConfig: { NetworkMode: `container:${sideContainer.id}` },
      })
    ).start()

    // Named dependant first: the order comes from the namespace it shares.
    const result = await migrate([main, side, '--no-checkpoint'])
    expect(result.code, result.stderr).toBe(0)
    expect(orderOf(eventsOf(result), 'create-target')).toEqual([side, main])
    const sideTarget = await hostB.getContainer(side).inspect()
    const mainTarget = await hostB.getContainer(main).inspect()
    expect([sideTarget.Id, `/${side}`]).toContain(
      (mainTarget.HostConfig.NetworkMode ?? '').replace(/^container:/, ''),
    )
    const reply = await execIn(hostB.getContainer(main), ['nc', '127.0.0.1', '8080'])
    expect(reply.stdout.trim()).toBe('hello-from-side')
  })
})

describe('what a group refuses', () => {
  it.each([
    [['a', 'b', '--name', 'c'], '--name c names one target'],
    [['--project', 'p', 'a'], '--project p takes that project'],
    [[], 'name the container (several make a group)'],
    [['a', 'b', '-p', '8080:80'], '--publish replaces one container'],
    [['a', 'b', '--pre-freeze', 'true'], 'transship.pre-freeze'],
    [['--project', `none${run}`], `no container of compose project "none${run}"`],
    [['a', 'b', '--volumes', 'data'], "--volumes selects one container's volumes"],
  ])('migrate %j fails with one line naming the fault', async (args, message) => {
    const result = await migrate(args)
    expect(result.code).not.toBe(0)
    expect(errorLines(result).join('\n')).toContain(message)
  })

  it('backup of a group refuses --pre-freeze, naming the labels', async () => {
    const result = await transship([
      'backup',
      'a',
      'b',
      '--from',
      env.TESTENV_HOST_A,
      '--via',
      'file:///nonexistent',
      '--pre-freeze',
      'true',
    ])
    expect(result.code).not.toBe(0)
    expect(errorLines(result).join('\n')).toContain('the label transship.pre-freeze')
  })
})
