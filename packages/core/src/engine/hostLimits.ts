/**
 * Limits of a host or an engine version that keep a checkpoint from working, in the user's
 * terms: one text per limit, which `transship doctor` prints as a warning and a migration
 * that meets the limit puts in its error.
 */

/**
 * Why CRIU cannot checkpoint a process that runs as another user than root on some hosts.
 * Detected from CRIU's log (`Can't get rlimit 0: Operation not permitted`).
 */
export const NON_ROOT_CHECKPOINT_HELP =
  'CRIU on this host cannot read the resource limits of a process that runs as a user other ' +
  'than root: the engine runs without the CAP_SYS_RESOURCE capability (as in some sandboxes, ' +
  'nested containers and restricted VMs), which CRIU needs for them. Containers whose ' +
  'processes run as root checkpoint there. Run dockerd with CAP_SYS_RESOURCE (a dockerd ' +
  'started as root by systemd has it), or migrate such containers with --no-checkpoint.'

/** Why the checkpoint API is not there: experimental mode is off. */
export const EXPERIMENTAL_OFF_HELP =
  'Docker’s checkpoint API needs experimental mode: start dockerd with --experimental (or ' +
  '"experimental": true in /etc/docker/daemon.json). Migrations with --no-checkpoint work ' +
  'without it (the processes restart at the destination).'

/** A released engine version whose restore from a checkpoint is known to fail. */
export interface RestoreDefect {
  /** The versions it affects, for messages, e.g. `28.5`. */
  readonly versions: string
  /** Whether it affects a container of this network mode (`HostConfig.NetworkMode`). */
  affects(networkMode: string): boolean
  /** What fails, why, and what works. */
  readonly explanation: string
}

const DEFECTS: readonly (RestoreDefect & { readonly pattern: RegExp })[] = [
  {
    pattern: /^28\.5\./,
    versions: '28.5',
    affects: (networkMode) => networkMode !== 'host',
    explanation:
      'Docker 28.5 cannot start a container from a checkpoint unless it uses the host’s ' +
      'network: `start --checkpoint` fails with "bind-mount /proc/0/ns/net -> …: no such file ' +
      'or directory" (moby#50750, containerd#12141). Checkpoints themselves work. Restore on an ' +
      'engine of another version, or migrate with --no-checkpoint.',
  },
]

/**
 * The known defect of an engine version's restore from a checkpoint.
 *
 * @param serverVersion - the engine's version (`docker version`'s `Server.Version`, e.g.
 *   `28.5.2` or `20.10.24+dfsg1`).
 * @return the defect, or `undefined` when none is known.
 */
export function restoreDefectOf(serverVersion: string): RestoreDefect | undefined {
  return DEFECTS.find((defect) => defect.pattern.test(serverVersion))
}
