import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/port.ts';
import { practice } from '../store/practices.contract.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { HEALOW_BASE } from './directory.test-helper.ts';
import { createStoreRegistry, registrationByEnvironment } from './store-registry.ts';

const registrations = {
  sandbox: { environment: 'sandbox' as const },
  production: { environment: 'production' as const },
};

describe('registrationByEnvironment', () => {
  const resolve = registrationByEnvironment({
    registrations,
    defaultRegistration: 'sandbox',
  });

  it('directory practices connect through the production registration', () => {
    expect(resolve(practice({ source: 'directory' }))).toBe('production');
  });

  it('loopback (simulator) practices through sandbox, operator ones through the default', () => {
    expect(
      resolve(practice({ source: 'directory', base: 'http://127.0.0.1:9090/fhir/r4/X' })),
    ).toBe('sandbox');
    expect(resolve(practice({ source: 'operator', base: 'https://ehr.example/fhir' }))).toBe(
      'sandbox',
    );
  });

  it('falls back to the default when no registration has the environment', () => {
    const only = registrationByEnvironment({
      registrations: { sandbox: registrations.sandbox },
      defaultRegistration: 'sandbox',
    });
    expect(only(practice({ source: 'directory' }))).toBe('sandbox');
  });
});

describe('store-backed practice registry', () => {
  let store: Store;
  const config = {
    registrations,
    defaultRegistration: 'sandbox',
    practices: [
      {
        id: 'JAFJCD',
        name: 'Sandbox from config',
        base: `${HEALOW_BASE}/JAFJCD`,
        vendor: 'healow' as const,
        registration: 'sandbox',
      },
    ],
  };
  const registry = () => createStoreRegistry({ repo: store.practices, config });

  beforeEach(async () => {
    store = await openSqliteStore({ path: ':memory:' });
    await store.practices.insert(practice({ id: 'JAFJCD', name: 'Sandbox from the directory' }));
    await store.practices.insert(practice({ id: 'AAAAAA', base: `${HEALOW_BASE}/AAAAAA` }));
    await store.practices.insert(
      practice({ id: 'GONE01', base: `${HEALOW_BASE}/GONE01`, status: 'vanished' }),
    );
    await store.practices.insert(
      practice({ id: 'OFF001', base: `${HEALOW_BASE}/OFF001`, status: 'disabled' }),
    );
    await store.practices.insert(
      practice({
        id: 'mine',
        name: 'Generic EHR',
        base: 'https://ehr.example/fhir',
        vendor: 'generic',
        source: 'operator',
        registration: 'production',
      }),
    );
  });

  afterEach(async () => {
    await store.close();
  });

  it('config practices win, by id and by base', async () => {
    const expected = {
      id: 'JAFJCD',
      name: 'Sandbox from config',
      base: `${HEALOW_BASE}/JAFJCD`,
      vendor: 'healow',
      registration: 'sandbox',
    };
    expect(await registry().get('JAFJCD')).toEqual(expected);
    expect(await registry().byBase(`${HEALOW_BASE}/JAFJCD`)).toEqual(expected);
    expect(await registry().byBase(`${HEALOW_BASE}/JAFJCD/`)).toEqual(expected);
  });

  it('hands out active store practices, resolving a missing registration', async () => {
    expect(await registry().get('AAAAAA')).toEqual({
      id: 'AAAAAA',
      name: 'FHIR R4 Prodtest EMR',
      base: `${HEALOW_BASE}/AAAAAA`,
      vendor: 'healow',
      registration: 'production',
    });
    expect(await registry().byBase('https://ehr.example/fhir')).toMatchObject({
      id: 'mine',
      vendor: 'generic',
      registration: 'production',
    });
  });

  it('never hands out a vanished or disabled practice', async () => {
    expect(await registry().get('GONE01')).toBeUndefined();
    expect(await registry().byBase(`${HEALOW_BASE}/GONE01`)).toBeUndefined();
    expect(await registry().get('OFF001')).toBeUndefined();
    expect(await registry().byBase(`${HEALOW_BASE}/OFF001`)).toBeUndefined();
    expect(await registry().get('unknown')).toBeUndefined();
  });

  it('lists config practices first, then the usable stored ones, each once', async () => {
    const listed = await registry().list();
    expect(listed.map((p) => [p.id, p.name])).toEqual([
      ['JAFJCD', 'Sandbox from config'],
      ['AAAAAA', 'FHIR R4 Prodtest EMR'],
      ['mine', 'Generic EHR'],
    ]);
  });
});
