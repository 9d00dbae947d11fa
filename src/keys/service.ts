// The key service: one keyring per app registration, its keys sealed in the store, the JWKS
// healow fetches, and the RS384 signer behind private_key_jwt client authentication
// (RFC 7523 §2.2, SMART App Launch "client-confidential-asymmetric").
import type { KeyObject } from 'node:crypto';
import { importPKCS8, type JWTPayload, SignJWT } from 'jose';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { Sealer } from '../common/seal.ts';
import type { KeyRepository, KeyStatus, StoredKey } from '../store/port.ts';
import { type Jwks, publicJwkOf, type RsaPublicJwk, SIGNING_ALG, toJwks } from './jwks.ts';
import { activeKey, advanceKeyring, byStatus, nextKey } from './keyring.ts';
import { generateRsaKey, MIN_MODULUS_LENGTH, readPrivateKeyFile, toPkcs8Pem } from './pem.ts';

export interface KeyServiceDeps {
  repo: KeyRepository;
  sealer: Sealer;
  clock: Clock;
  /** How long a `next` key is published before it signs: healow's JWKS cache must see it first. */
  publishDelayMs?: number;
  /** How long a retired key stays in the JWKS after its successor started signing. */
  retireGraceMs?: number;
  /** RSA modulus for generated keys; below 2048 is refused. */
  modulusLength?: number;
}

/** What may be shown about a key: never key material. */
export interface KeyInfo {
  kid: string;
  status: KeyStatus;
  createdAt: number;
  activatesAt: number | null;
  removeAt: number | null;
}

/** Signs with one key; get a fresh one per client_assertion so a rotation is picked up. */
export interface KeySigner {
  kid: string;
  /** The private key itself (not extractable), for oauth4webapi's private_key_jwt. */
  key: CryptoKey;
  signJwt(payload: JWTPayload): Promise<string>;
}

export interface KeyService {
  /** Makes sure the keyring has an active key, generating one if it has none (first start). */
  ensure(keyring: string): Promise<KeyInfo>;
  /** A new key: active in an empty keyring, else a rotation (see `rotate`). */
  generate(keyring: string): Promise<KeyInfo>;
  /** Imports an RSA private key PEM file (mode 0600 or stricter): active if the keyring is empty, else `next`. */
  importPem(keyring: string, path: string): Promise<KeyInfo>;
  /**
   * Adds a `next` key, published at once, signing from now + publishDelayMs; the active key then
   * retires and leaves the JWKS retireGraceMs later. One rotation at a time per keyring.
   */
  rotate(keyring: string): Promise<KeyInfo>;
  list(keyring: string): Promise<KeyInfo[]>;
  /** The public JWKS: active, next and retired-in-grace keys. */
  jwks(keyring: string): Promise<Jwks>;
  /** The signer of the key active now. */
  signer(keyring: string): Promise<KeySigner>;
}

const MINUTE = 60_000;

export function createKeyService({
  repo,
  sealer,
  clock,
  publishDelayMs = 10 * MINUTE,
  retireGraceMs = 24 * 60 * MINUTE,
  modulusLength = MIN_MODULUS_LENGTH,
}: KeyServiceDeps): KeyService {
  if (!Number.isInteger(modulusLength) || modulusLength < MIN_MODULUS_LENGTH) {
    throw new BridgeError(
      'invalid_config',
      `modulusLength must be an integer of at least ${MIN_MODULUS_LENGTH} bits`,
    );
  }
  for (const [name, value] of Object.entries({ publishDelayMs, retireGraceMs })) {
    if (!Number.isFinite(value) || value < 0) {
      throw new BridgeError('invalid_config', `${name} must be a non-negative number`);
    }
  }

  // Unsealed keys of this instance, by kid; a promise so concurrent signers import once.
  const cryptoKeys = new Map<string, Promise<CryptoKey>>();
  // Per-keyring queue: additions in one process never race each other.
  const queues = new Map<string, Promise<unknown>>();

  function serialized<T>(keyring: string, task: () => Promise<T>): Promise<T> {
    // Across processes too, when the store can lock a keyring: two processes starting at once
    // must not both make an active key, nor two rotations both add a next one.
    const locked = () => (repo.exclusive ? repo.exclusive(keyring, task) : task());
    const run = (queues.get(keyring) ?? Promise.resolve()).then(locked, locked);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    queues.set(keyring, tail);
    void tail.then(() => {
      if (queues.get(keyring) === tail) queues.delete(keyring);
    });
    return run;
  }

  /** The keyring at the clock's now, with due transitions persisted. */
  async function load(keyring: string): Promise<StoredKey[]> {
    assertKeyringName(keyring);
    const advance = advanceKeyring(await repo.list(keyring), clock.now(), retireGraceMs);
    for (const key of advance.changed) await repo.put(key);
    for (const kid of advance.removed) {
      await repo.delete(kid);
      cryptoKeys.delete(kid);
    }
    return advance.keys;
  }

  /**
   * Adds a key: active when the keyring has no active key, else `next`. Refused while a rotation
   * is pending, so that a key that never signed cannot retire one that just started to.
   */
  async function add(keyring: string, makeKey: () => Promise<KeyObject>): Promise<KeyInfo> {
    const keys = await load(keyring);
    const pending = nextKey(keys);
    if (pending) {
      throw new BridgeError(
        'invalid_request',
        `keyring "${keyring}" already has a next key (${pending.kid}) signing from ${iso(pending.activatesAt)}; add another after it activates`,
        { details: { keyring, kid: pending.kid } },
      );
    }
    const privateKey = await makeKey();
    const publicJwk = await publicJwkOf(privateKey);
    if (keys.some((key) => key.kid === publicJwk.kid)) {
      throw new BridgeError(
        'invalid_request',
        `key ${publicJwk.kid} is already in keyring "${keyring}"`,
        { details: { keyring, kid: publicJwk.kid } },
      );
    }
    const now = clock.now();
    return activeKey(keys)
      ? insert(keyring, privateKey, publicJwk, 'next', now + publishDelayMs)
      : insert(keyring, privateKey, publicJwk, 'active', now);
  }

  async function insert(
    keyring: string,
    privateKey: KeyObject,
    publicJwk: RsaPublicJwk,
    status: 'active' | 'next',
    activatesAt: number,
  ): Promise<KeyInfo> {
    const stored: StoredKey = {
      kid: publicJwk.kid,
      keyring,
      status,
      publicJwk: { ...publicJwk },
      sealedPrivateKey: sealer.seal(toPkcs8Pem(privateKey), sealContext(publicJwk.kid)),
      createdAt: clock.now(),
      activatesAt,
      removeAt: null,
    };
    await repo.put(stored);
    return toInfo(stored);
  }

  function cryptoKeyOf(key: StoredKey): Promise<CryptoKey> {
    let cached = cryptoKeys.get(key.kid);
    if (!cached) {
      cached = unseal(key);
      cryptoKeys.set(key.kid, cached);
      cached.catch(() => cryptoKeys.delete(key.kid));
    }
    return cached;
  }

  async function unseal(key: StoredKey): Promise<CryptoKey> {
    try {
      const pem = sealer.open(key.sealedPrivateKey, sealContext(key.kid));
      return await importPKCS8(pem, SIGNING_ALG);
    } catch (cause) {
      // Neither the PEM nor a parser message that might quote it goes into the error.
      throw new BridgeError('key_error', `cannot open the private key ${key.kid}`, {
        details: { keyring: key.keyring, kid: key.kid },
        cause: cause instanceof BridgeError ? cause : undefined,
      });
    }
  }

  const generateKey = () => generateRsaKey(modulusLength);

  return {
    ensure: (keyring) =>
      serialized(keyring, async () => {
        const keys = await load(keyring);
        const active = activeKey(keys);
        if (active) return toInfo(active);
        // A lone `next` (never written by this service) must not block the first start.
        const privateKey = await generateKey();
        return insert(keyring, privateKey, await publicJwkOf(privateKey), 'active', clock.now());
      }),

    generate: (keyring) => serialized(keyring, () => add(keyring, generateKey)),

    rotate: (keyring) => serialized(keyring, () => add(keyring, generateKey)),

    importPem: (keyring, path) =>
      serialized(keyring, () => add(keyring, () => readPrivateKeyFile(path))),

    async list(keyring) {
      return (await load(keyring)).sort(byStatus).map(toInfo);
    },

    async jwks(keyring) {
      return toJwks((await load(keyring)).sort(byStatus));
    },

    async signer(keyring) {
      const active = activeKey(await load(keyring));
      if (!active) {
        throw new BridgeError(
          'key_error',
          `keyring "${keyring}" has no active key; run "fhirbridge keys generate"`,
          { details: { keyring } },
        );
      }
      const key = await cryptoKeyOf(active);
      const { kid } = active;
      return {
        kid,
        key,
        // RFC 7523 §3 claims are the caller's; the header is what healow requires (RS384, typ
        // JWT as SMART asks, kid even with a single key).
        signJwt: (payload) =>
          new SignJWT(payload).setProtectedHeader({ alg: SIGNING_ALG, typ: 'JWT', kid }).sign(key),
      };
    },
  };
}

/** The associated data a private key is sealed with: a sealed key cannot pass for another's. */
export function sealContext(kid: string): string {
  return `key:${kid}`;
}

function toInfo({ kid, status, createdAt, activatesAt, removeAt }: StoredKey): KeyInfo {
  return { kid, status, createdAt, activatesAt, removeAt };
}

function assertKeyringName(keyring: string): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(keyring)) {
    throw new BridgeError('invalid_request', 'keyring name must be 1-64 of [A-Za-z0-9._-]');
  }
}

function iso(ms: number | null): string {
  return ms === null ? 'now' : new Date(ms).toISOString();
}
