import { z } from 'zod'

/** The manifest format this version of transship writes and reads. */
export const MANIFEST_FORMAT = 'transship-backup'
/** Bumped when a manifest can no longer be read by older versions. */
export const MANIFEST_VERSION = 1
/** The manifest's key, under the backup's prefix. Written last: it marks a complete backup. */
export const MANIFEST_KEY = 'manifest.json'

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex sha256')

// What the manifest names goes into engine API paths and requests: each is checked
// against the engine's own grammar before anything uses it (staging is untrusted).

/** A container or volume name as Docker accepts it (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`). */
const objectName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/, 'a Docker object name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)')
/** A network name: one path segment of letters, digits, `_`, `.` and `-`. */
const networkName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'a network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)')
/** A container id: 64 hex digits. */
const containerId = z.string().regex(/^[0-9a-f]{64}$/, 'a container id (64 hex digits)')
/** An image id: a sha256 digest. */
const imageId = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'an image id (sha256:<64 hex digits>)')
/**
 * An image reference (`[host[:port]/]path[:tag][@digest]`), as the reference grammar
 * allows: no `..`, no query or fragment characters, no whitespace.
 */
const imageReference = z
  .string()
  .regex(
    /^(?!.*\.\.)(?!.*\/\/)[a-zA-Z0-9][a-zA-Z0-9._:@/-]*$/,
    'an image reference ([host[:port]/]path[:tag][@digest])',
  )
/** A volume or network driver's name, a plugin's included (`name[:tag]`, `vendor/name`). */
const driverName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.:/-]*$/, 'a driver name ([a-zA-Z0-9][a-zA-Z0-9_.:/-]*)')
/** An absolute path in the container without `.` or `..` segments. */
const mountPath = z
  .string()
  .regex(/^\/(?!.*(^|\/)\.{1,2}(\/|$))[^\0]*$/, 'an absolute path without . or .. segments')
const stringMap = z.record(z.string(), z.string())
/** A path inside a backup: relative, `/`-separated, without `.` or `..` segments. */
const artifactKey = z
  .string()
  .regex(/^(?!.*(^|\/)\.{1,2}(\/|$))[^/\\\0][^\\\0]*$/, 'a relative path without . or ..')

/**
 * One stored piece of state: a volume's content, the container layer, the image, the
 * checkpoint of the running processes.
 */
export const ArtifactSchema = z.object({
  /** Key under the backup's prefix, e.g. `volumes/0.tar`. */
  key: artifactKey,
  kind: z.enum(['volume', 'layer', 'image', 'checkpoint']),
  /** Byte size of the artifact itself (before compression and sealing). */
  size: z.number().int().nonnegative(),
  /** The sha256 of the artifact itself (before compression and sealing). */
  sha256,
  /**
   * Byte size once compressed (before sealing), in a backup whose manifest names a
   * `compression`: what a restore checks the stored artifact against before it begins.
   */
  compressedSize: z.number().int().nonnegative().optional(),
  /**
   * How the bytes are encoded: `tar`, an archive as the engine's archive API gives and
   * takes it (names under one top directory); `tree`, a PAX tar of a directory tree as
   * transship's helper program packs it (names relative to the tree's root, nanosecond
   * times, sparse files, members that delete a path), applied by the same program.
   */
  encoding: z.enum(['tar', 'tree']),
})

/** A volume of the source container, and what makes it the same volume elsewhere. */
export const VolumeSchema = z.object({
  /** The volume's name at the source (a generated one for an anonymous volume). */
  name: objectName,
  /** Anonymous volumes get a fresh name at the destination; named ones keep theirs. */
  anonymous: z.boolean(),
  driver: driverName,
  labels: stringMap,
  driverOptions: stringMap,
  /** Mount point in the container. */
  destination: mountPath,
  readOnly: z.boolean(),
  /** Key of the artifact holding its content; absent when the volume was not selected. */
  artifact: artifactKey.optional(),
  /**
   * Keys of the artifacts holding what changed after `artifact` was taken (the pre-copy's
   * later rounds, the last one after the freeze), applied in this order over it.
   */
  deltas: z.array(artifactKey).optional(),
  /**
   * In a group, the member container that copies this volume, which this one also mounts:
   * it is copied, made and removed once, with that member.
   */
  copiedWith: objectName.optional(),
})

/** A bind or tmpfs mount: recorded so the target gets it too, but its content is not copied. */
export const SkippedMountSchema = z.object({
  type: z.string(),
  source: z.string().optional(),
  destination: mountPath,
  readOnly: z.boolean(),
})

/** The engine a backup was taken from. */
export const EngineRecordSchema = z.object({
  url: z.string(),
  id: z.string(),
  name: z.string(),
  serverVersion: z.string(),
})

/** A network the source container is attached to, and its endpoint there. */
export const NetworkRecordSchema = z.object({
  name: networkName,
  /** `bridge`, `host` and `none` exist on every engine and are never created. */
  builtin: z.boolean(),
  /** The network's own settings, to create it where it is missing (user-defined only). */
  driver: driverName.optional(),
  options: stringMap.optional(),
  labels: stringMap.optional(),
  internal: z.boolean().optional(),
  attachable: z.boolean().optional(),
  enableIPv6: z.boolean().optional(),
  ipam: z
    .object({
      driver: z.string(),
      options: stringMap,
      config: z.array(z.record(z.string(), z.string())),
    })
    .optional(),
  /** The container's endpoint: its aliases and static addresses on that network. */
  aliases: z.array(z.string()),
  ipv4Address: z.string().optional(),
  ipv6Address: z.string().optional(),
})

/** The source container as it was when the backup was taken. */
export const SourceContainerSchema = z.object({
  engine: EngineRecordSchema,
  id: containerId,
  name: objectName,
  /** The image as the container names it, e.g. `redis:7`. */
  image: imageReference,
  /** The image's ID (`sha256:…`). */
  imageId,
  /** Whether it ran when the backup began. */
  running: z.boolean(),
  /** Its restart policy before transship set it to `no`. */
  restartPolicy: z.object({ Name: z.string(), MaximumRetryCount: z.number().optional() }),
  /** Docker's `Config` and `HostConfig`, as inspect gave them. */
  config: z.record(z.string(), z.unknown()),
  hostConfig: z.record(z.string(), z.unknown()),
  /** The networks it is attached to, by name. */
  networks: z.array(NetworkRecordSchema),
})

/** The container layer: the files the container added, changed or deleted on its image. */
export const LayerSchema = z.object({
  /**
   * How it was read: `overlay2` (the writable layer's directory itself) or `changes` (what
   * `docker diff` lists, read through the archive API, for other storage drivers). Either
   * way the artifact is a Docker image layer (deletions as `.wh.` files), so that it is
   * written back on any storage driver: into the target's overlay2 UpperDir, or as the top
   * layer of a derived image elsewhere.
   */
  method: z.enum(['overlay2', 'changes']),
  /** Key of the artifact holding it. */
  artifact: artifactKey,
  /** How many paths `docker diff` listed as added, changed and deleted. */
  changes: z.object({
    added: z.number().int().nonnegative(),
    changed: z.number().int().nonnegative(),
    deleted: z.number().int().nonnegative(),
  }),
})

/** The image, when it travels with the backup. */
export const ImageSchema = z.object({
  /** The image's ID (`sha256:…`). */
  id: imageId,
  /** Its tags at the source, re-applied at the destination. */
  tags: z.array(imageReference),
  /** Key of the artifact holding it, in `docker save` format. */
  artifact: artifactKey,
  /** Layers (diff IDs) left out because the destination already held them. */
  omittedLayers: z.array(z.string()),
  /**
   * In a group's backup, the member whose backup holds the image, which several members
   * run: it is stored and loaded once, with that member (`artifact` is that member's).
   */
  copiedWith: objectName.optional(),
})

/** A name Docker accepts for a checkpoint, and a single directory name in an archive. */
const checkpointName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'a Docker checkpoint name')

/**
 * The running processes' state, checkpointed with CRIU through the engine: the container
 * continues from it at the destination.
 */
export const CheckpointSchema = z.object({
  /** The checkpoint's name at the source; the target's copy has the same name. */
  name: checkpointName,
  /** Key of the artifact holding the checkpoint directory (CRIU's image files). */
  artifact: artifactKey,
  /** When the processes were frozen: the checkpoint began. The downtime counts from here. */
  frozenAt: z.iso.datetime(),
  /** How long the checkpoint took, in milliseconds. */
  durationMs: z.number().int().nonnegative(),
  /**
   * Whether CRIU saved established TCP connections (its `tcp-established` option was on at
   * the source): the destination's CRIU must then be allowed them too. Known once the
   * checkpoint was read.
   */
  tcpEstablished: z.boolean().optional(),
  /**
   * The source engine, for diagnosing a failed restore: CRIU restores only where the
   * kernel and runtime can recreate what it saved. (Docker's API does not report CRIU's
   * own version.)
   */
  engine: z.object({
    serverVersion: z.string(),
    apiVersion: z.string(),
    kernelVersion: z.string(),
    runcCommit: z.string().optional(),
  }),
})

/** A warning: something not carried, or carried differently, and why. */
export const WarningSchema = z.object({
  stage: z.string(),
  message: z.string(),
})

/**
 * The manifest: what a backup holds. Validated on read; unknown fields are kept so that a
 * newer minor addition does not break an older reader of the same version.
 */
export const ManifestSchema = z.looseObject({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  /** The backup's id, also its key prefix in the transport. */
  id: z.string().min(1),
  createdAt: z.iso.datetime(),
  source: SourceContainerSchema,
  volumes: z.array(VolumeSchema),
  skippedMounts: z.array(SkippedMountSchema),
  artifacts: z.array(ArtifactSchema),
  warnings: z.array(WarningSchema),
  /** Absent when the layer was not taken. */
  layer: LayerSchema.optional(),
  /** Absent when the image did not travel (the destination had it, or `--no-image`). */
  image: ImageSchema.optional(),
  /** Absent for a cold backup (`--no-checkpoint`, or a source that was not running). */
  checkpoint: CheckpointSchema.optional(),
  /**
   * The codec every artifact was compressed with before it was sealed (`zstd`, `gzip`);
   * absent when they were stored as they are. The manifest itself is never compressed. A
   * codec this transship does not know is refused on restore, naming it.
   */
  compression: z.string().optional(),
})

/** A group backup's format (`backup --project`): its members' backups, under its prefix. */
export const GROUP_MANIFEST_FORMAT = 'transship-group'
/** The group manifest's key, under the group's prefix. Written last: it marks a complete group. */
export const GROUP_MANIFEST_KEY = 'group.json'

export const GroupManifestSchema = z.looseObject({
  format: z.literal(GROUP_MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  /** The group backup's id, also its key prefix in the transport. */
  id: z.string().min(1),
  createdAt: z.iso.datetime(),
  /** The compose project, when the group was one. */
  project: z.string().optional(),
  /**
   * Each member's container and backup id (`<group id>/<index>`), dependencies first: the
   * order the targets start in.
   */
  members: z.array(z.object({ container: objectName, id: z.string().min(1) })).min(1),
})

export type GroupManifest = z.infer<typeof GroupManifestSchema>
export type Artifact = z.infer<typeof ArtifactSchema>
export type LayerRecord = z.infer<typeof LayerSchema>
export type ImageRecord = z.infer<typeof ImageSchema>
export type CheckpointRecord = z.infer<typeof CheckpointSchema>
export type VolumeRecord = z.infer<typeof VolumeSchema>
export type SkippedMount = z.infer<typeof SkippedMountSchema>
export type EngineRecord = z.infer<typeof EngineRecordSchema>
export type NetworkRecord = z.infer<typeof NetworkRecordSchema>
export type SourceContainer = z.infer<typeof SourceContainerSchema>
export type Warning = z.infer<typeof WarningSchema>
export type Manifest = z.infer<typeof ManifestSchema>
