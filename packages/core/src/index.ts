export { type ArtifactDigest, type HashingStream, hashingStream } from './archive/hashingStream.js'
export { tarFraming } from './archive/tarFraming.js'
export { type TarGuard, type TarGuardOptions, tarGuard } from './archive/tarGuard.js'
export { verifyingStream } from './archive/verifyingStream.js'
export { deleteBackup, listBackups, type StoredBackup } from './backups/listBackups.js'
export {
  CODEC_NAMES,
  type Codec,
  type CodecName,
  type Compression,
  findCodec,
} from './compression/codecs.js'
export { compressedTransport } from './compression/compressedTransport.js'
export {
  connectEngine,
  EngineClient,
  type EngineInfo,
  type EngineOptions,
  shortId,
} from './engine/client.js'
export {
  type DiagnoseOptions,
  DOCTOR_LABEL,
  diagnoseEngine,
  type EngineCheck,
} from './engine/diagnose.js'
export { HELPER_LABEL, pickHelperImage, withHelperContainer } from './engine/helperContainer.js'
export { putArchive } from './engine/putArchive.js'
export { type EngineTlsOptions, tlsFromEnvironment } from './engine/tls.js'
export {
  DEFAULT_DOCKER_SOCKET,
  defaultEngineUrl,
  type EngineEndpoint,
  parseEngineUrl,
  type SshEndpoint,
  type TcpEndpoint,
  type UnixEndpoint,
} from './engine/url.js'
export { messageOf, TransshipError } from './errors.js'
export { type EachMemberOptions, eachMember, mapMembers } from './group/eachMember.js'
export { type FindGroupOptions, findGroup } from './group/findGroup.js'
export { groupDowntime } from './group/groupDowntime.js'
export {
  isGroupBackup,
  type ReadGroupManifestOptions,
  readGroupManifest,
  type WriteGroupManifestOptions,
  writeGroupManifest,
} from './group/groupManifest.js'
export {
  dependencyOrder,
  type GroupMember,
  type MemberOrder,
  memberOf,
} from './group/memberOrder.js'
export { markSharedVolumes, mountSharedVolumes } from './group/shared.js'
export { type Holder, isGone, thisProcess } from './ledger/holder.js'
export { type DurableLedgerOptions, Ledger, type LedgerEntry } from './ledger/ledger.js'
export {
  type LedgerBegin,
  type LedgerContent,
  ledgerDirectory,
  readLedgers,
} from './ledger/ledgerFile.js'
export { type LedgerResolver, performStep, UNDO_STEP_TIMEOUT_MS } from './ledger/performStep.js'
export {
  type RecoveredMigration,
  type RecoverOptions,
  type RecoveryOutcome,
  recoverMigrations,
} from './ledger/recover.js'
export {
  endRun,
  type RollbackOptions,
  type RollbackReport,
  rollBack,
} from './ledger/rollBack.js'
export { type RollForwardOptions, rollForward } from './ledger/rollForward.js'
export {
  LOCK_LABEL,
  type LockHolder,
  lockName,
  readLockHolder,
  releaseLocksOf,
  takeSourceLock,
} from './ledger/sourceLock.js'
export {
  describeStep,
  TARGET_KEY,
  targetKey,
  type UndoRecord,
  type UndoStep,
  undo,
  undoStepSchema,
} from './ledger/undoSteps.js'
export {
  parseGroupManifest,
  parseManifest,
  serializeGroupManifest,
  serializeManifest,
} from './manifest/codec.js'
export {
  type Artifact,
  type CheckpointRecord,
  type EngineRecord,
  GROUP_MANIFEST_FORMAT,
  GROUP_MANIFEST_KEY,
  type GroupManifest,
  GroupManifestSchema,
  type ImageRecord,
  type LayerRecord,
  MANIFEST_FORMAT,
  MANIFEST_KEY,
  MANIFEST_VERSION,
  type Manifest,
  ManifestSchema,
  type NetworkRecord,
  type SkippedMount,
  type SourceContainer,
  type VolumeRecord,
  type Warning,
} from './manifest/schema.js'
export { concurrently } from './pipeline/concurrently.js'
export type {
  HookEvent,
  MemberSummary,
  MigrationEvent,
  ProgressEvent,
  StageFinishedEvent,
  StageStartedEvent,
  StateEvent,
  SummaryEvent,
  WarningEvent,
} from './pipeline/events.js'
export { type RollbackOnFailureOptions, rollbackOnFailure } from './pipeline/rollbackOnFailure.js'
export { defineStage, type StageContext, StageFailure } from './pipeline/stage.js'
export {
  type CompressionOptions,
  keyRequired,
  type SealingOptions,
} from './pipeline/staging.js'
export { startMigration } from './pipeline/startMigration.js'
export type {
  Downtime,
  Freeze,
  MemberState,
  MigrationState,
  PrecopiedTree,
  TargetRecord,
} from './pipeline/state.js'
export { stateAfter } from './pipeline/stateAfter.js'
export { summarize } from './pipeline/summarize.js'
export {
  type BackupOptions,
  type BackupPhaseOptions,
  type BackupPhases,
  backup,
  backupPhases,
} from './pipelines/backup.js'
export { type BackupGroupOptions, backupGroup } from './pipelines/backupGroup.js'
export { type MigrateOptions, migrate } from './pipelines/migrate.js'
export { type MigrateGroupOptions, migrateGroup } from './pipelines/migrateGroup.js'
export {
  type MigrationPhases,
  migrationPhases,
  type PhaseOptions,
  type PhaseSubject,
} from './pipelines/migrationPhases.js'
export { type RestoreOptions, restore } from './pipelines/restore.js'
export { type GroupPlan, type PlanGroupOptions, planGroup } from './plan/planGroup.js'
export {
  type MigrationPlan,
  type PlannedVolume,
  type PlanOptions,
  planMigration,
} from './plan/planMigration.js'
export {
  type GroupRestorePlan,
  type PlanRestoreOptions,
  planRestore,
  type RestorePlan,
} from './plan/planRestore.js'
export { openBuffer, sealBuffer } from './sealing/sealedBuffer.js'
export { SEALED_MAGIC, sealedSize } from './sealing/sealedFormat.js'
export { openStream, sealStream } from './sealing/sealedStream.js'
export { sealedTransport } from './sealing/sealedTransport.js'
export {
  generateKeyFile,
  type KeyFile,
  keyId,
  readKeyFile,
  SecretKey,
} from './sealing/secretKey.js'
export { connectSsh, type SshConnection } from './ssh/connect.js'
export { hostKeyFingerprint } from './ssh/knownHosts.js'
export { type ResolvedSshOptions, resolveSshOptions, type SshOptions } from './ssh/options.js'
export { type BackupVolumesOptions, backupVolumes } from './stages/backupVolumes.js'
export { type CheckDestinationOptions, checkDestination } from './stages/checkDestination.js'
export {
  type BackupCheckpointOptions,
  backupCheckpoint,
} from './stages/checkpoint/backupCheckpoint.js'
export {
  type CheckpointSourceOptions,
  checkpointSource,
} from './stages/checkpoint/checkpointSource.js'
export {
  type CopyCheckpointOptions,
  copyCheckpoint,
} from './stages/checkpoint/copyCheckpoint.js'
export {
  type RemoveSourceCheckpointOptions,
  removeSourceCheckpoint,
} from './stages/checkpoint/removeSourceCheckpoint.js'
export {
  type RestoreCheckpointOptions,
  restoreCheckpoint,
} from './stages/checkpoint/restoreCheckpoint.js'
export {
  type ResumeFromCheckpointOptions,
  resumeFromCheckpoint,
} from './stages/checkpoint/resumeSource.js'
export { type ResumeTargetOptions, resumeTarget } from './stages/checkpoint/resumeTarget.js'
export { type CreateTargetOptions, createTarget } from './stages/createTarget.js'
export type { OnConflict } from './stages/destinationNames.js'
export type { OnMissingNetwork } from './stages/destinationNetworks.js'
export { removeSource, restartSource, type SourceOptions } from './stages/finishSource.js'
export {
  commitTarget,
  type Hooks,
  POST_RESTORE_LABEL,
  type PostRestoreHookOptions,
  PRE_FREEZE_LABEL,
  type PreFreezeHookOptions,
  postRestoreHook,
  preFreezeHook,
} from './stages/hooks.js'
export { type BackupImageOptions, backupImage, IMAGE_ARTIFACT } from './stages/image/backupImage.js'
export { type CopyImageOptions, copyImage } from './stages/image/copyImage.js'
export { type RestoreImageOptions, restoreImage } from './stages/image/restoreImage.js'
export { type InspectSourceOptions, inspectSource } from './stages/inspectSource.js'
export { type BackupLayerOptions, backupLayer, LAYER_ARTIFACT } from './stages/layer/backupLayer.js'
export { type CopyLayerOptions, copyLayer } from './stages/layer/copyLayer.js'
export { type PrecopyLayerOptions, precopyLayer } from './stages/layer/precopyLayer.js'
export type { ChangesRead } from './stages/layer/readChanges.js'
export {
  DERIVED_IMAGE_REPOSITORY,
  type RestoreLayerOptions,
  restoreLayer,
} from './stages/layer/restoreLayer.js'
export { type LockSourceOptions, lockSource } from './stages/lockSource.js'
export { type PrecopyVolumesOptions, precopyVolumes } from './stages/precopyVolumes.js'
export { type ReadManifestOptions, readManifest } from './stages/readManifest.js'
export { type RemoveBackupOptions, removeBackup } from './stages/removeBackup.js'
export { type RestoreVolumesOptions, restoreVolumes } from './stages/restoreVolumes.js'
export { type StartTargetOptions, startTarget } from './stages/startTarget.js'
export { type StopSourceOptions, stopSource } from './stages/stopSource.js'
export { type SyncVolumesOptions, syncVolumes } from './stages/syncVolumes.js'
export {
  changedSource,
  describeChanges,
  type PortBinding,
  parseAssignment,
  parsePublish,
  type TargetChanges,
  volumeNameChanges,
} from './stages/targetChanges.js'
export { type TargetConfig, type TargetInputs, targetConfig } from './stages/targetConfig.js'
export { type WriteManifestOptions, writeManifest } from './stages/writeManifest.js'
export type {
  ArtifactExpectation,
  ArtifactStat,
  Transport,
  TransportCallOptions,
} from './transport/contract.js'
export {
  type DriverPutOptions,
  defineTransport,
  type TransportDriver,
} from './transport/defineTransport.js'
export { assertExpectation } from './transport/expectation.js'
export { assertSafeKey, assertSafePrefix } from './transport/keys.js'
export {
  type LazyTransportScheme,
  type TransportOpenOptions,
  TransportRegistry,
  type TransportScheme,
} from './transport/registry.js'
export {
  compareTrees,
  type FieldDifference,
  type ListedEntry,
  type PathDifference,
  type TreeComparison,
} from './verify/compareTrees.js'
export { describeDifference } from './verify/describeDifference.js'
export {
  type TreeDifference,
  type Verification,
  type VerifiedContainer,
  type VerifiedTree,
  type VerifyOptions,
  verifyContainers,
} from './verify/verifyContainers.js'
export { type VerifyTargetOptions, verifyTarget } from './verify/verifyTarget.js'
