// The vault: connections, their sealed token sets, the launch, the refresher, connection states.
export type { VaultDeps } from './deps.ts';
export type { CallbackOutcome, StartRequest, StartResult } from './launch.ts';
export { createRefreshScheduler } from './scheduler.ts';
export {
  type ConnectionView,
  createVault,
  type TokenSource,
  type Vault,
  viewConnection,
} from './vault.ts';
