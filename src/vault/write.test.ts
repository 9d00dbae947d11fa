// updateByVersion: a write that must win over a refresh elsewhere, on a real SQLite store file.
import { afterEach, describe, expect, it } from 'vitest';
import { type VaultFixture, vaultFixture } from './vault.test-helper.ts';
import { updateByVersion } from './write.ts';

const ID = 'con_writetest01';
let f: VaultFixture;

afterEach(() => f.close());

/** Another process writes the row right after each of the first `times` reads of it. */
function movedAfterReads(times: number): { reads: () => number } {
  const get = f.store.connections.get.bind(f.store.connections);
  let reads = 0;
  f.store.connections.get = async (id) => {
    const row = await get(id);
    if (row && ++reads <= times) {
      await f.store.connections.update(
        id,
        { tokenVersion: row.tokenVersion + 1 },
        row.tokenVersion,
      );
    }
    return row;
  };
  return { reads: () => reads };
}

describe('updateByVersion', () => {
  it('computes the patch again from the row as it is now until its compare-and-set lands', async () => {
    f = await vaultFixture(() => new Response(null, { status: 500 }));
    await f.insertActive(ID, { refreshLeaseUntil: f.clock.now() + 60_000 });
    const moved = movedAfterReads(2);
    const seen: number[] = [];
    const written = await updateByVersion(f.store, ID, (current) => {
      seen.push(current.tokenVersion);
      return { stateReason: `written over version ${current.tokenVersion}` };
    });
    expect(moved.reads()).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    expect(written).toMatchObject({ tokenVersion: 4, refreshLeaseUntil: null });
    expect(await f.store.connections.get(ID)).toMatchObject({
      stateReason: 'written over version 3',
      tokenVersion: 4,
      refreshLeaseUntil: null,
    });
  });

  it('gives up with conflict after five attempts when the row keeps changing', async () => {
    f = await vaultFixture(() => new Response(null, { status: 500 }));
    await f.insertActive(ID);
    const moved = movedAfterReads(Number.POSITIVE_INFINITY);
    await expect(
      updateByVersion(f.store, ID, () => ({ stateReason: 'never written' })),
    ).rejects.toMatchObject({
      code: 'conflict',
      message: `connection ${ID} kept changing; try again`,
    });
    expect(moved.reads()).toBe(5);
    expect(await f.store.connections.get(ID)).toMatchObject({ stateReason: null, tokenVersion: 6 });
  });
});
