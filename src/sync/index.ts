// The sync's public surface: the engine, its plan, and the export streams the API and CLI share.
export {
  type AttachmentPolicy,
  DEFAULT_ATTACHMENT_POLICY,
} from './binary.ts';
export {
  createSyncEngine,
  type RunPassMode,
  type SyncAttempt,
  type SyncEngine,
  type SyncEngineDeps,
  type SyncEngineOptions,
  type SyncProgress,
  type SyncResult,
  type SyncRunOptions,
  type SyncTotals,
} from './engine.ts';
export {
  type BundleExportOptions,
  bundleChunks,
  type ExportManifest,
  exportManifest,
  ndjsonChunks,
} from './export.ts';
export {
  describeTypes,
  isRetryableSyncFailure,
  typeOutcomes,
} from './outcomes.ts';
export { KNOWN_TYPES, type PlannedSearch, planSync, type SyncPlan } from './plan.ts';
export { SYNC_PROFILES, type SyncProfile, syncProfileFor } from './profiles.ts';
