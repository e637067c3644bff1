import type { SkippedMount, SourceContainer, VolumeRecord } from '../manifest/schema.js'
import type { VolumePlan } from './destinationNames.js'

/** The namespace modes whose `host` value shares the host's own namespace. */
const NAMESPACE_MODES = {
  PidMode: 'PID',
  IpcMode: 'IPC',
  NetworkMode: 'network',
  UTSMode: 'UTS',
  UsernsMode: 'user',
} as const

/** Security options that restrict rather than relax: not a grant. */
const RESTRICTING_SECURITY_OPTION = /^no-new-privileges([:=]true)?$/

/** What a target will be made of, as far as its grants on the host go. */
export interface GrantInputs {
  readonly source: SourceContainer
  readonly volumes: readonly VolumeRecord[]
  readonly skippedMounts: readonly SkippedMount[]
  /** How each volume will be made at the destination (an existing one reused is a grant). */
  readonly plans: readonly VolumePlan[]
}

/**
 * The host grants a target would receive: everything beyond what a plain `docker run
 * IMAGE` grants, as transship would carry it to the destination. Privileged mode, added
 * capabilities, the host's PID, IPC, network, UTS or user namespace, devices and device
 * rules, security options that relax seccomp, AppArmor or SELinux, a runtime other than
 * runc, sysctls, a cgroup parent, bind mounts of host paths, local volumes on a host
 * device or directory, and existing volumes of the destination mounted into it. (Links,
 * `--volumes-from` and `container:` namespaces are never carried, so never granted;
 * published ports are not counted: `docker run -p` is an ordinary choice.)
 *
 * @param inputs - the container's configuration, volumes and mounts, and the volume plans.
 * @return one line per grant, naming it; empty when there is none.
 */
export function hostGrantsOf(inputs: GrantInputs): string[] {
  const host = inputs.source.hostConfig
  const grants: string[] = []
  if (host.Privileged === true) grants.push('privileged mode')
  for (const capability of list(host.CapAdd)) grants.push(`added capability ${String(capability)}`)
  for (const [field, namespace] of Object.entries(NAMESPACE_MODES)) {
    if (host[field] === 'host') grants.push(`the host's ${namespace} namespace (${field} host)`)
  }
  for (const device of list(host.Devices)) {
    const { PathOnHost, PathInContainer } = (device ?? {}) as Record<string, unknown>
    grants.push(`host device ${String(PathOnHost)} at ${String(PathInContainer ?? PathOnHost)}`)
  }
  if (list(host.DeviceRequests).length > 0) grants.push('device requests (GPUs and the like)')
  for (const rule of list(host.DeviceCgroupRules)) grants.push(`device cgroup rule ${String(rule)}`)
  for (const option of list(host.SecurityOpt).map(String)) {
    if (!RESTRICTING_SECURITY_OPTION.test(option)) grants.push(`security option ${option}`)
  }
  if (typeof host.Runtime === 'string' && host.Runtime !== '' && host.Runtime !== 'runc') {
    grants.push(`runtime ${host.Runtime}`)
  }
  for (const [key, value] of Object.entries(record(host.Sysctls))) {
    grants.push(`sysctl ${key}=${String(value)}`)
  }
  if (typeof host.CgroupParent === 'string' && host.CgroupParent !== '') {
    grants.push(`cgroup parent ${host.CgroupParent}`)
  }
  for (const mount of inputs.skippedMounts) {
    if (mount.type === 'bind' && mount.source) {
      grants.push(
        `bind mount of host path ${mount.source} at ${mount.destination} (${mount.readOnly ? 'read-only' : 'read-write'})`,
      )
    }
  }
  for (const volume of inputs.volumes) {
    const device = volume.driver === 'local' ? volume.driverOptions.device : undefined
    if (device !== undefined) {
      const options = Object.entries(volume.driverOptions)
        .map(([key, value]) => `${key}=${value}`)
        .join(',')
      grants.push(`volume ${volume.name} on host device or directory ${device} (${options})`)
    }
  }
  for (const plan of inputs.plans) {
    if (plan.action === 'reuse') {
      grants.push(
        `existing volume ${plan.name} of the destination, mounted at ${plan.volume.destination}`,
      )
    }
  }
  return grants
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {}
}
