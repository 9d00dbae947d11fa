// The master key that seals tokens and private keys at rest. From config (FHIRBRIDGE_MASTER_KEY)
// when given; otherwise a key file in the data folder, created on first start with mode 0600,
// so that the embedded default needs nothing but `npm start`.
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BridgeError } from '../common/errors.ts';
import type { MasterKey } from '../common/seal.ts';
import { ensurePrivateDir } from './private-files.ts';
import type { Config } from './schema.ts';

export interface ResolvedMasterKeys {
  keys: MasterKey[];
  /** Where the key came from, for the start-up log line (never the key). */
  source: 'config' | 'file-created' | 'file';
  path?: string;
}

export function resolveMasterKeys(
  config: Pick<Config, 'masterKeys' | 'dataDir'>,
): ResolvedMasterKeys {
  if (config.masterKeys.length > 0) {
    return {
      keys: config.masterKeys.map(({ id, key }) => ({ id, key: Buffer.from(key, 'base64') })),
      source: 'config',
    };
  }
  const path = join(config.dataDir, 'master.key');
  let text: string;
  let source: ResolvedMasterKeys['source'] = 'file';
  try {
    const mode = statSync(path).mode;
    if (mode & 0o077) {
      throw new BridgeError('invalid_config', `${path} is readable by other users: chmod 600 it`);
    }
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    ensurePrivateDir(dirname(path));
    text = `k1:${randomBytes(32).toString('base64')}`;
    writeFileSync(path, `${text}\n`, { mode: 0o600, flag: 'wx' });
    source = 'file-created';
  }
  const at = text.indexOf(':');
  const key = Buffer.from(text.slice(at + 1), 'base64');
  if (at < 1 || key.length !== 32) {
    throw new BridgeError('invalid_config', `${path} must hold "id:<32 bytes base64>"`);
  }
  return { keys: [{ id: text.slice(0, at), key }], source, path };
}
