import { setTimeout as sleep } from 'node:timers/promises'
import createDebug from 'debug'
import type Dockerode from 'dockerode'
import { messageOf, TransshipError } from '../errors.js'
import { checkpointsDirOf } from '../stages/checkpoint/checkpointFiles.js'
import {
  criuLogPathIn,
  diagnoseCriuFailure,
  TCP_ESTABLISHED_HELP,
} from '../stages/checkpoint/criuLog.js'
import { startFromCheckpoint } from '../stages/checkpoint/startFromCheckpoint.js'
import {
  connectEngine,
  type EngineClient,
  type EngineInfo,
  type EngineOptions,
  shortId,
} from './client.js'
import {
  EXPERIMENTAL_OFF_HELP,
  NON_ROOT_CHECKPOINT_HELP,
  type RestoreDefect,
  restoreDefectOf,
} from './hostLimits.js'

const debug = createDebug('transship:engine')

/** One item of an engine's diagnosis. */
export interface EngineCheck {
  /** What was checked, e.g. `experimental mode`. */
  readonly name: string
  readonly ok: boolean
  /** Whether transship cannot work with this engine when the check fails. */
  readonly required: boolean
  /** What was found. */
  readonly detail: string
  /** What to do about a failed check. */
  readonly hint?: string
}

/** Options of {@link diagnoseEngine}. */
export interface DiagnoseOptions extends EngineOptions {
  /**
   * Image for the throwaway containers of the checkpoint checks. By default the engine's
   * local images are tried, busybox-like ones first, until one runs a TCP listener
   * (busybox `httpd` or `nc`), else `sleep` or a shell loop.
   */
  readonly image?: string
}

/** Label on the doctor's throwaway containers, so that leftovers can be found. */
export const DOCTOR_LABEL = 'transship.doctor'

/** The checkpoint API appeared in API 1.25 (Docker 1.13). */
const MIN_API_VERSION = '1.25'
const CHECKPOINT_NAME = 'transship-doctor'
/** A long-running command for a throwaway container, and whether it listens on TCP. */
interface LongRunning {
  readonly command: readonly string[]
  readonly listener: boolean
}
/** TCP listeners first: CRIU 4.1 passes a plain process but fails on every TCP server. */
const LONG_RUNNING_COMMANDS: readonly LongRunning[] = [
  { command: ['busybox', 'httpd', '-f', '-p', '18080'], listener: true },
  { command: ['busybox', 'nc', '-ll', '-p', '18080', '-e', 'cat'], listener: true },
  { command: ['sleep', '3600'], listener: false },
  { command: ['sh', '-c', 'while :; do sleep 1; done'], listener: false },
]
/**
 * An established TCP connection inside the container: a client connected to an echo
 * server over the loopback, which prints `connected` once the server answered.
 */
const ESTABLISHED_COMMAND = [
  'sh',
  '-c',
  'busybox nc -ll -p 18081 -e cat & sleep 1; (echo connected; exec sleep 3600) | busybox nc 127.0.0.1 18081',
]
const ESTABLISHED_TIMEOUT_MS = 5000
const MAX_IMAGES_TRIED = 5
/** `nobody`, by number: it needs no entry in the image's /etc/passwd. */
const NON_ROOT_USER = '65534:65534'
const PREFERRED_IMAGES = /busybox|alpine|debian|ubuntu/

/**
 * Checks whether an engine can take part in a migration: reachable, API version,
 * experimental mode, storage driver, root directory, a known defect of its version, whether
 * a checkpoint really works there (a throwaway container running a TCP listener where the
 * image allows, labelled `transship.doctor=true`, is checkpointed, restored and removed),
 * whether CRIU may checkpoint established TCP connections there (`tcp-established` in runc's
 * CRIU configuration file) and processes that run as a user other than root. The host's
 * limits (experimental mode off, a version with a known restore defect, the last two) are
 * warnings, not failures: a migration without a checkpoint works there.
 *
 * ## Example
 * ```ts
 * const checks = await diagnoseEngine('unix:///var/run/docker.sock')
 * const ready = checks.every((check) => check.ok || !check.required)
 * ```
 *
 * @param url - the engine URL; `DOCKER_HOST`, else the local socket, by default.
 * @param options - engine settings, and the image for the checkpoint check.
 * @return the checks, in order; only the failed `reachable` check when the engine cannot be
 *   reached.
 * @throws TransshipError `ENGINE_URL_INVALID` for a malformed URL.
 */
export async function diagnoseEngine(
  url?: string,
  options: DiagnoseOptions = {},
): Promise<EngineCheck[]> {
  let engine: EngineClient
  try {
    engine = await connectEngine(url, options)
  } catch (error) {
    if (error instanceof TransshipError && error.code === 'ENGINE_URL_INVALID') throw error
    return [unreachable(error)]
  }
  try {
    let info: EngineInfo
    let version: Dockerode.DockerVersion
    try {
      ;[info, version] = await Promise.all([engine.info(), engine.version()])
    } catch (error) {
      return [unreachable(error)]
    }
    const defect = restoreDefectOf(version.Version)
    return [
      {
        name: 'reachable',
        ok: true,
        required: true,
        detail: `Docker ${version.Version} on ${info.Name} (${version.Os}/${version.Arch}), engine ID ${info.ID}`,
      },
      apiVersionCheck(version.ApiVersion),
      experimentalCheck(info),
      storageDriverCheck(info),
      rootDirectoryCheck(info),
      engineVersionCheck(version.Version, defect),
      ...(info.ExperimentalBuild
        ? await checkpointChecks(engine, info, options.image, defect)
        : []),
    ]
  } finally {
    await engine.close()
  }
}

function unreachable(error: unknown): EngineCheck {
  const code = error instanceof TransshipError ? error.code : ''
  let hint = 'check that dockerd runs there and that the engine URL is right'
  if (code.startsWith('SSH_HOST_KEY')) {
    hint =
      'check the fingerprint with the host, then add its key to known_hosts (ssh-keyscan), ' +
      'or give the right known_hosts file (UserKnownHostsFile in ~/.ssh/config)'
  } else if (code === 'SSH_AUTH_FAILED' || code === 'SSH_KEY_INVALID') {
    hint =
      "check the SSH user and key: the key's public half must be in the host's " +
      'authorized_keys (IdentityFile in ~/.ssh/config, or an SSH agent)'
  } else if (code === 'SSH_CONNECT_FAILED') {
    hint = 'check that sshd runs on the host and listens on the port in the URL'
  }
  return { name: 'reachable', ok: false, required: true, detail: messageOf(error), hint }
}

function apiVersionCheck(apiVersion: string): EngineCheck {
  const ok = compareVersions(apiVersion, MIN_API_VERSION) >= 0
  return {
    name: 'API version',
    ok,
    required: true,
    detail: `${apiVersion} (needs ${MIN_API_VERSION} or later)`,
    ...(ok ? {} : { hint: 'upgrade Docker: the checkpoint API needs Docker 1.13 or later' }),
  }
}

/** Off is a warning: migrations with --no-checkpoint work without experimental mode. */
function experimentalCheck(info: EngineInfo): EngineCheck {
  const ok = info.ExperimentalBuild === true
  return {
    name: 'experimental mode',
    ok,
    required: false,
    detail: ok
      ? 'on'
      : 'off: no checkpoint can be taken or restored here, so the checks that need one are skipped',
    ...(ok ? {} : { hint: EXPERIMENTAL_OFF_HELP }),
  }
}

function engineVersionCheck(serverVersion: string, defect: RestoreDefect | undefined): EngineCheck {
  return {
    name: 'engine version',
    ok: !defect,
    required: false,
    detail: defect
      ? `Docker ${serverVersion} has a known defect in its restore from a checkpoint`
      : `Docker ${serverVersion}: no known defect in its checkpoint or restore`,
    ...(defect ? { hint: defect.explanation } : {}),
  }
}

function storageDriverCheck(info: EngineInfo): EngineCheck {
  const ok = info.Driver === 'overlay2'
  return {
    name: 'storage driver',
    ok,
    required: false,
    detail: info.Driver,
    ...(ok
      ? {}
      : {
          hint:
            "transship copies a container's writable layer from overlay2's upper directory: " +
            'start dockerd with --storage-driver overlay2 to migrate that layer',
        }),
  }
}

function rootDirectoryCheck(info: EngineInfo): EngineCheck {
  const ok = Boolean(info.DockerRootDir)
  return {
    name: 'root directory',
    ok,
    required: false,
    detail: ok
      ? `${info.DockerRootDir} (a checkpoint restores only on an engine with the same root directory)`
      : 'not reported by the engine',
  }
}

/** The checks that take real checkpoints, each in a throwaway container. */
async function checkpointChecks(
  engine: EngineClient,
  info: EngineInfo,
  image: string | undefined,
  defect: RestoreDefect | undefined,
): Promise<EngineCheck[]> {
  const checkpoint = await checkpointCheck(engine, info, image, defect)
  if (!checkpoint.image) return [checkpoint.check]
  return [
    checkpoint.check,
    await establishedTcpCheck(engine, info, checkpoint.image),
    await nonRootCheck(engine, info, checkpoint.image),
  ]
}

async function checkpointCheck(
  engine: EngineClient,
  info: EngineInfo,
  image: string | undefined,
  defect: RestoreDefect | undefined,
): Promise<{ check: EngineCheck; image?: string }> {
  const name = 'checkpoint and restore'
  let container: ThrowawayContainer | undefined
  try {
    container = await startThrowawayContainer(engine, image)
    await checkpointAndRestore(engine, info, container)
    const what = container.listener
      ? 'a TCP listener'
      : 'no TCP listener: none would run from the images tried, and CRIU 4.1 passes this ' +
        'check but fails on TCP servers; give an image with busybox (--image) to check that'
    return {
      check: {
        name,
        ok: true,
        required: true,
        detail: `checkpointed and restored a container of ${container.description} (${what})`,
      },
      image: container.image,
    }
  } catch (error) {
    // An engine version known to fail here is a limit to explain, not a setup to fix.
    const known = defect?.affects('default') && !isNoRunnableImage(error) ? defect : undefined
    return {
      check: {
        name,
        ok: false,
        required: !known,
        detail: await failureDetail(engine, container?.image, error),
        hint: known ? known.explanation : checkpointHint(error),
      },
    }
  } finally {
    if (container) await removeQuietly(engine, container.id)
  }
}

/** Checkpoints a running throwaway container, restores it, and checks that it still runs. */
async function checkpointAndRestore(
  engine: EngineClient,
  info: EngineInfo,
  container: ThrowawayContainer,
): Promise<void> {
  await engine.createCheckpoint(container.id, CHECKPOINT_NAME, { exit: true })
  await startFromCheckpoint(engine, container.id, CHECKPOINT_NAME, {
    checkpointDir: checkpointsDirOf(info, container.id),
    helperImage: container.image,
  })
  // A restored process that dies at once would still show as started: look again later.
  await sleep(500)
  const { State } = await engine.inspectContainer(container.id)
  if (!State.Running) {
    throw new Error(
      `the restored container is not running (status ${State.Status}, exit code ${State.ExitCode}${State.Error ? `, ${State.Error}` : ''})`,
    )
  }
}

/** The engine's error, with what CRIU's log says when the engine names a log. */
async function failureDetail(
  engine: EngineClient,
  image: string | undefined,
  error: unknown,
): Promise<string> {
  const message = messageOf(error)
  if (!image || !criuLogPathIn(message)) return message
  const diagnosis = await diagnoseCriuFailure(engine, image, error)
  const version = diagnosis.version ? ` (CRIU ${diagnosis.version})` : ''
  return `${message}: ${diagnosis.summary}${version}`
}

/**
 * Whether CRIU checkpoints a container holding an established TCP connection (over its
 * loopback) there, and restores it. Docker passes CRIU no option for that: only runc's
 * CRIU configuration file can allow it.
 */
async function establishedTcpCheck(
  engine: EngineClient,
  info: EngineInfo,
  image: string,
): Promise<EngineCheck> {
  const name = 'established TCP connections'
  let id: string | undefined
  try {
    id = await engine.createContainer({
      Image: image,
      Entrypoint: [],
      Cmd: ESTABLISHED_COMMAND,
      Labels: { [DOCTOR_LABEL]: 'true' },
    })
    await engine.startContainer(id)
    if (!(await waitForConnection(engine, id))) {
      return {
        name,
        ok: false,
        required: false,
        detail: `not checked: no connection could be opened in a container of ${image} (it needs busybox's sh and nc)`,
        hint: 'give an image with busybox (--image) to check this',
      }
    }
    const container = { id, image, description: image, listener: true }
    try {
      await checkpointAndRestore(engine, info, container)
    } catch (error) {
      const diagnosis = await diagnoseCriuFailure(engine, image, error)
      if (diagnosis.cause !== 'tcp-established') throw error
      return {
        name,
        ok: false,
        required: false,
        detail:
          'CRIU refuses them, as by default: a container with a connection open (even over ' +
          'its loopback) cannot be checkpointed; `transship migrate --no-checkpoint` can still move it',
        hint: TCP_ESTABLISHED_HELP,
      }
    }
    return {
      name,
      ok: true,
      required: false,
      detail:
        'checkpointed and restored a container with a connection over its loopback ' +
        '(CRIU is told `tcp-established`); connections to peers outside a container still cannot move to another host',
    }
  } catch (error) {
    return { name, ok: false, required: false, detail: messageOf(error) }
  } finally {
    if (id) await removeQuietly(engine, id)
  }
}

/** Waits until the throwaway container's client printed `connected`. */
async function waitForConnection(engine: EngineClient, id: string): Promise<boolean> {
  const deadline = Date.now() + ESTABLISHED_TIMEOUT_MS
  while (Date.now() < deadline) {
    const logs = await engine.call(`read the logs of ${shortId(id)}`, (docker) =>
      docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false }),
    )
    if (logs.toString('latin1').includes('connected')) return true
    if (!(await engine.inspectContainer(id)).State.Running) return false
    await sleep(200)
  }
  return false
}

function checkpointHint(error: unknown): string {
  if (isNoRunnableImage(error)) {
    return 'give an image whose `sleep` or `sh` runs (--image), e.g. one built from busybox'
  }
  return (
    "install CRIU 4.2 or later on the engine's host, where runc finds it (PATH), and check " +
    'that `criu check` passes: older CRIU fails on recent kernels'
  )
}

function isNoRunnableImage(error: unknown): boolean {
  return error instanceof TransshipError && error.code === 'DOCTOR_NO_RUNNABLE_IMAGE'
}

/**
 * Whether CRIU checkpoints a process that runs as a user other than root: it cannot where
 * the engine lacks CAP_SYS_RESOURCE (some sandboxes and nested setups).
 */
async function nonRootCheck(
  engine: EngineClient,
  info: EngineInfo,
  image: string,
): Promise<EngineCheck> {
  const name = 'non-root processes'
  let container: ThrowawayContainer | undefined
  try {
    container = await startThrowawayContainer(engine, image, NON_ROOT_USER)
    await checkpointAndRestore(engine, info, container)
    return {
      name,
      ok: true,
      required: false,
      detail: `checkpointed and restored a container of ${container.description} as user ${NON_ROOT_USER}`,
    }
  } catch (error) {
    const diagnosis = await diagnoseCriuFailure(engine, image, error)
    return {
      name,
      ok: false,
      required: false,
      detail:
        diagnosis.cause === 'non-root'
          ? `a container running as user ${NON_ROOT_USER} cannot be checkpointed here: ${diagnosis.summary}`
          : `a container running as user ${NON_ROOT_USER} could not be checkpointed and restored: ${messageOf(error)}`,
      ...(diagnosis.cause === 'non-root' ? { hint: NON_ROOT_CHECKPOINT_HELP } : {}),
    }
  } finally {
    if (container) await removeQuietly(engine, container.id)
  }
}

interface ThrowawayContainer {
  readonly id: string
  readonly image: string
  /** Image and command, for messages. */
  readonly description: string
  /** Whether it runs a TCP listener. */
  readonly listener: boolean
}

/** Starts a labelled container running a long-lived process, trying images and commands. */
async function startThrowawayContainer(
  engine: EngineClient,
  image: string | undefined,
  user?: string,
): Promise<ThrowawayContainer> {
  const images = image ? [image] : await candidateImages(engine)
  const failures: string[] = []
  for (const candidate of images) {
    for (const { command, listener } of LONG_RUNNING_COMMANDS) {
      const description = `${candidate} running \`${command.join(' ')}\``
      let id: string | undefined
      try {
        id = await engine.createContainer({
          Image: candidate,
          Entrypoint: [],
          Cmd: [...command],
          ...(user ? { User: user } : {}),
          Labels: { [DOCTOR_LABEL]: 'true' },
        })
        await engine.startContainer(id)
        // A listener that cannot bind exits at once; look again a little later.
        if (listener) await sleep(300)
        if ((await engine.inspectContainer(id)).State.Running) {
          return { id, image: candidate, description, listener }
        }
        failures.push(`${description}: exited at once`)
      } catch (error) {
        failures.push(`${description}: ${messageOf(error)}`)
        if (isMissingImage(error)) break
      }
      if (id) await removeQuietly(engine, id)
    }
  }
  throw new TransshipError(
    'DOCTOR_NO_RUNNABLE_IMAGE',
    images.length === 0
      ? `engine ${engine.url} holds no image to run a throwaway container from`
      : `no throwaway container would keep running: ${failures.join('; ')}`,
  )
}

function isMissingImage(error: unknown): boolean {
  return error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND'
}

/** Removes a throwaway container; a failure only leaves a labelled leftover, so it is logged. */
async function removeQuietly(engine: EngineClient, id: string): Promise<void> {
  try {
    await engine.removeContainer(id)
  } catch (error) {
    debug('%s: doctor container left behind: %s', engine.url, messageOf(error))
  }
}

/** Local images by tag, busybox-like ones first. */
async function candidateImages(engine: EngineClient): Promise<string[]> {
  const tags = (await engine.listImages())
    .flatMap((image) => image.RepoTags ?? [])
    .filter((tag) => tag !== '<none>:<none>')
  const preferred = tags.filter((tag) => PREFERRED_IMAGES.test(tag))
  const others = tags.filter((tag) => !PREFERRED_IMAGES.test(tag))
  return [...preferred, ...others].slice(0, MAX_IMAGES_TRIED)
}

/** Compares dotted version numbers: negative, zero or positive. */
function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number)
  const right = b.split('.').map(Number)
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0)
    if (difference !== 0) return difference
  }
  return 0
}
