// The lifecycle of a keyring's keys as pure functions of the stored rows and the time, so that
// promotion needs no timer and every process computes the same transitions from the same rows:
// `next` (published, not signing) → `active` at activatesAt → `retired` (published for a grace
// period after its successor took over) → removed.
import type { StoredKey } from '../store/port.ts';

export interface KeyringAdvance {
  /** The keyring as it stands at `now`. */
  keys: StoredKey[];
  /** Rows whose status or removeAt changed: to persist. */
  changed: StoredKey[];
  /** Kids of retired keys past their grace period: to delete. */
  removed: string[];
}

/**
 * Applies every transition due at `now`. A `next` key whose activatesAt has come becomes active
 * and retires the key(s) active before it, with removeAt = its activation + retireGraceMs (the
 * grace period starts when the old key stopped signing, not when we noticed).
 */
export function advanceKeyring(
  keys: readonly StoredKey[],
  now: number,
  retireGraceMs: number,
): KeyringAdvance {
  const current = keys.map((key) => ({ ...key }));
  const changed = new Set<StoredKey>();

  const due = current
    .filter((key) => key.status === 'next' && (key.activatesAt ?? 0) <= now)
    .sort((a, b) => (a.activatesAt ?? 0) - (b.activatesAt ?? 0) || a.kid.localeCompare(b.kid));
  for (const next of due) {
    const activatedAt = next.activatesAt ?? now;
    for (const key of current) {
      if (key.status !== 'active') continue;
      key.status = 'retired';
      key.removeAt = activatedAt + retireGraceMs;
      changed.add(key);
    }
    next.status = 'active';
    next.activatesAt = activatedAt;
    changed.add(next);
  }

  const expired = (key: StoredKey) =>
    key.status === 'retired' && key.removeAt !== null && key.removeAt <= now;
  return {
    keys: current.filter((key) => !expired(key)),
    changed: [...changed].filter((key) => !expired(key)),
    removed: current.filter(expired).map((key) => key.kid),
  };
}

/** The key that signs: the most recently activated active key (two only after a start-up race). */
export function activeKey(keys: readonly StoredKey[]): StoredKey | undefined {
  let best: StoredKey | undefined;
  for (const key of keys) {
    if (key.status !== 'active') continue;
    if (!best || activeSince(key) > activeSince(best)) best = key;
  }
  return best;
}

/** The key waiting to sign, if a rotation is under way. */
export function nextKey(keys: readonly StoredKey[]): StoredKey | undefined {
  return keys.find((key) => key.status === 'next');
}

const STATUS_ORDER = { active: 0, next: 1, retired: 2 } as const;

/** Active first, then next, then retired; newest first within a status. */
export function byStatus(a: StoredKey, b: StoredKey): number {
  return STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || b.createdAt - a.createdAt;
}

function activeSince(key: StoredKey): number {
  return key.activatesAt ?? key.createdAt;
}
