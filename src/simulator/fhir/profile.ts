// What the FHIR server does under each profile, decided once per request from the `profile`
// option and the quirks: `healow` is healow as observed (strict, its own wire habits, every
// unconfirmed behaviour a switch); `generic` is a permissive reference SMART on FHIR R4 server.

import type { SimQuirks } from '../context.ts';
import type { SimulatorOptions } from '../options.ts';
import type { WireStyle } from './outcome.ts';
import { genericParameterSet, healowParameterSets, type ParameterSet } from './parameter-sets.ts';

export type ServerProfile = SimulatorOptions['profile'];

export interface ServerBehaviour extends WireStyle {
  profile: ServerProfile;
  /** The search methods of a type (none: the type cannot be searched). */
  parameterSets(type: string): ParameterSet[];
  /** `meta.versionId` on resources and a weak ETag on reads (healow sends neither). */
  versionIds: boolean;
  // healow's Content-Location on reads: `/r4/` then `*`, the practice code, type and id.
  contentLocation: boolean;
  /** Links and fullUrls on healow's own plain-http host. */
  foreignLinks: boolean;
  /** An empty searchset leaves `entry` out (healow) instead of sending `[]`. */
  omitEmptyEntry: boolean;
  /** An empty searchset's `total` is the `_count` asked (healow) instead of 0. */
  emptyTotalIsCount: boolean;
  /** The self link lists the query in the server's own order (healow) or as sent. */
  ownLinkOrder: boolean;
}

const LEGACY_TYPE = 'application/json+fhir;charset=UTF-8';
const STANDARD_TYPE = 'application/fhir+json;charset=utf-8';

export function behaviourOf(profile: ServerProfile, quirks: SimQuirks): ServerBehaviour {
  if (profile === 'generic') {
    return {
      profile,
      pretty: false,
      contentType: STANDARD_TYPE,
      parameterSets: (type) => {
        const set = genericParameterSet(type);
        return set ? [set] : [];
      },
      versionIds: true,
      contentLocation: false,
      foreignLinks: false,
      omitEmptyEntry: false,
      emptyTotalIsCount: false,
      ownLinkOrder: false,
    };
  }
  return {
    profile,
    pretty: true,
    contentType: quirks.legacyContentType ? LEGACY_TYPE : STANDARD_TYPE,
    parameterSets: (type) => healowParameterSets(type, quirks),
    versionIds: false,
    contentLocation: true,
    foreignLinks: quirks.foreignLinks,
    omitEmptyEntry: quirks.emptyBundleWithoutEntry,
    emptyTotalIsCount: quirks.wrongBundleTotal,
    ownLinkOrder: true,
  };
}
