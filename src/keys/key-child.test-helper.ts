// A process of its own on a shared SQLite store, for key races between processes: opens the store
// and a key service, says `ready`, and on a `go` line runs `ensure` or `rotate` on the keyring
// and prints its outcome as one JSON line (`{"kid": ...}` or `{"error": ...}`).
// Run as `node bin/run-ts.mjs key-child.test-helper.ts <store file> <ensure|rotate>`; the master
// key comes hex-encoded in FHIRBRIDGE_TEST_MASTER_KEY.
import { createInterface } from 'node:readline';
import { systemClock } from '../common/clock.ts';
import { createSealer } from '../common/seal.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { createKeyService } from './service.ts';

const [path, action] = process.argv.slice(2);
const masterKey = process.env.FHIRBRIDGE_TEST_MASTER_KEY;
if (!path || (action !== 'ensure' && action !== 'rotate') || !masterKey) {
  throw new Error('usage: key-child.test-helper.ts <store file> <ensure|rotate>');
}

const store = await openSqliteStore({ path });
const keys = createKeyService({
  repo: store.keys,
  sealer: createSealer([{ id: 'm1', key: Buffer.from(masterKey, 'hex') }]),
  clock: systemClock,
});
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() !== 'go') continue;
  try {
    const info = await (action === 'ensure' ? keys.ensure('sandbox') : keys.rotate('sandbox'));
    process.stdout.write(`${JSON.stringify({ kid: info.kid, status: info.status })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ error: (error as Error).message })}\n`);
  } finally {
    lines.close();
    await store.close();
  }
}
