// A practice's own resources, the same for each of its patients: the practice Organization, its
// reference lab, its Locations, and its staff (Practitioner + PractitionerRole).

import type { SimPractice } from '../context.ts';
import { concept, type FhirResource, reference } from './fhir.ts';
import { FAMILY_NAMES, GIVEN_NAMES, STREET_NAMES } from './names.ts';
import { createPrng, opaqueId, type Prng } from './prng.ts';
import { SYSTEM, US_CORE } from './terminology.ts';

export type StaffRole =
  | 'familyPhysician'
  | 'pediatrician'
  | 'nursePractitioner'
  | 'nurse'
  | 'cardiologist';

interface RoleSpec {
  taxonomy: string;
  display: string;
  credential: string;
  credentialDisplay: string;
  prefix?: string;
}

const ROLES: Record<StaffRole, RoleSpec> = {
  familyPhysician: {
    taxonomy: '207Q00000X',
    display: 'Family Medicine Physician',
    credential: 'MD',
    credentialDisplay: 'Doctor of Medicine',
    prefix: 'Dr.',
  },
  pediatrician: {
    taxonomy: '208000000X',
    display: 'Pediatrics Physician',
    credential: 'MD',
    credentialDisplay: 'Doctor of Medicine',
    prefix: 'Dr.',
  },
  nursePractitioner: {
    taxonomy: '363LF0000X',
    display: 'Family Nurse Practitioner',
    credential: 'NP',
    credentialDisplay: 'Nurse Practitioner',
  },
  nurse: {
    taxonomy: '163W00000X',
    display: 'Registered Nurse',
    credential: 'RN',
    credentialDisplay: 'Registered Nurse',
  },
  cardiologist: {
    taxonomy: '207RC0000X',
    display: 'Cardiovascular Disease Physician',
    credential: 'DO',
    credentialDisplay: 'Doctor of Osteopathy',
    prefix: 'Dr.',
  },
};

export const STAFF_ROLES = Object.keys(ROLES) as StaffRole[];

export interface StaffMember {
  role: StaffRole;
  id: string;
  roleId: string;
  display: string;
}

/** Ids and display names of a practice's shared resources: what patient charts reference. */
export interface PracticeRefs {
  organizationId: string;
  organizationName: string;
  labId: string;
  labName: string;
  locationId: string;
  locationName: string;
  satelliteId: string;
  staff: Record<StaffRole, StaffMember>;
}

/** A 10-digit NPI with a valid check digit (Luhn over the `80840` prefix, CMS NPI standard). */
export function npi(prng: Prng): string {
  const body = `1${Array.from({ length: 8 }, () => prng.int(0, 9)).join('')}`;
  const digits = `80840${body}`;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return `${body}${(10 - (sum % 10)) % 10}`;
}

function phone(prng: Prng): string {
  return `${prng.int(201, 989)}-555-0${prng.int(100, 199)}`;
}

export function practiceRefs(seed: string, practice: SimPractice): PracticeRefs {
  const id = (...parts: string[]) => opaqueId(seed, practice.code, ...parts);
  const prng = createPrng(seed, practice.code, 'staff');
  const used = new Set<string>();
  const staff = {} as Record<StaffRole, StaffMember>;
  for (const role of STAFF_ROLES) {
    let given: string;
    let family: string;
    do {
      given = prng.pick(GIVEN_NAMES);
      family = prng.pick(FAMILY_NAMES);
    } while (used.has(family));
    used.add(family);
    const spec = ROLES[role];
    staff[role] = {
      role,
      id: id('Practitioner', role),
      roleId: id('PractitionerRole', role),
      display: `${spec.prefix ? `${spec.prefix} ` : ''}${given} ${family}, ${spec.credential}`,
    };
  }
  return {
    organizationId: id('Organization', 'practice'),
    organizationName: practice.name,
    labId: id('Organization', 'lab'),
    labName: prng.pick(['Quest Diagnostics', 'Labcorp', 'BioReference Laboratories']),
    locationId: id('Location', 'main'),
    locationName: `${practice.name} - Main Office`,
    satelliteId: id('Location', 'satellite'),
    staff,
  };
}

/** The practice's shared resources, without `meta` (the chart assigns it). */
export function practiceResources(
  seed: string,
  practice: SimPractice,
  refs: PracticeRefs,
): FhirResource[] {
  const prng = createPrng(seed, practice.code, 'practice-resources');
  const address = (line: string) => ({
    use: 'work',
    type: 'physical',
    line: [line],
    city: practice.city || 'Westborough',
    state: practice.state || 'MA',
    postalCode: String(prng.int(1001, 99950)).padStart(5, '0'),
    country: 'US',
  });
  const mainAddress = address(`${prng.int(10, 2999)} ${prng.pick(STREET_NAMES)}`);
  const mainPhone = phone(prng);
  const orgRef = reference('Organization', refs.organizationId, refs.organizationName);
  const out: FhirResource[] = [
    {
      resourceType: 'Organization',
      id: refs.organizationId,
      meta: { profile: [`${US_CORE}/us-core-organization`] },
      identifier: [{ system: SYSTEM.npi, value: npi(prng) }],
      active: true,
      type: [
        concept({
          system: 'http://terminology.hl7.org/CodeSystem/organization-type',
          code: 'prov',
          display: 'Healthcare Provider',
        }),
      ],
      name: refs.organizationName,
      telecom: [
        { system: 'phone', value: mainPhone, use: 'work' },
        { system: 'fax', value: phone(prng), use: 'work' },
      ],
      address: [mainAddress],
    },
    {
      resourceType: 'Organization',
      id: refs.labId,
      meta: { profile: [`${US_CORE}/us-core-organization`] },
      identifier: [{ system: SYSTEM.npi, value: npi(prng) }],
      active: true,
      type: [
        concept({
          system: 'http://terminology.hl7.org/CodeSystem/organization-type',
          code: 'prov',
          display: 'Healthcare Provider',
        }),
      ],
      name: refs.labName,
      telecom: [{ system: 'phone', value: phone(prng), use: 'work' }],
      address: [address(`${prng.int(10, 999)} ${prng.pick(STREET_NAMES)}`)],
    },
    {
      resourceType: 'Location',
      id: refs.locationId,
      meta: { profile: [`${US_CORE}/us-core-location`] },
      status: 'active',
      name: refs.locationName,
      mode: 'instance',
      type: [concept({ system: SYSTEM.v3RoleCode, code: 'OF', display: 'Outpatient facility' })],
      telecom: [{ system: 'phone', value: mainPhone, use: 'work' }],
      address: mainAddress,
      managingOrganization: orgRef,
    },
    {
      resourceType: 'Location',
      id: refs.satelliteId,
      meta: { profile: [`${US_CORE}/us-core-location`] },
      status: 'active',
      name: `${practice.name} - ${prng.pick(['North', 'South', 'East', 'West'])} Clinic`,
      mode: 'instance',
      type: [concept({ system: SYSTEM.v3RoleCode, code: 'OF', display: 'Outpatient facility' })],
      telecom: [{ system: 'phone', value: phone(prng), use: 'work' }],
      address: address(`${prng.int(10, 2999)} ${prng.pick(STREET_NAMES)}`),
      managingOrganization: orgRef,
    },
  ];
  for (const role of STAFF_ROLES) {
    const member = refs.staff[role];
    const spec = ROLES[role];
    const name = member.display.replace(/^Dr\. /, '').replace(/, \w+$/, '');
    const [given, ...rest] = name.split(' ');
    const gender = prng.pick(['female', 'male']);
    out.push({
      resourceType: 'Practitioner',
      id: member.id,
      meta: { profile: [`${US_CORE}/us-core-practitioner`] },
      identifier: [{ system: SYSTEM.npi, value: npi(prng) }],
      active: true,
      name: [
        {
          use: 'official',
          text: member.display,
          family: rest.join(' '),
          given: [given ?? name],
          ...(spec.prefix ? { prefix: [spec.prefix] } : {}),
          suffix: [spec.credential],
        },
      ],
      telecom: [{ system: 'phone', value: mainPhone, use: 'work' }],
      address: [mainAddress],
      gender,
      qualification: [
        {
          code: concept({
            system: 'http://terminology.hl7.org/CodeSystem/v2-0360',
            code: spec.credential,
            display: spec.credentialDisplay,
          }),
        },
      ],
    });
    out.push({
      resourceType: 'PractitionerRole',
      id: member.roleId,
      meta: { profile: [`${US_CORE}/us-core-practitionerrole`] },
      active: true,
      practitioner: reference('Practitioner', member.id, member.display),
      organization: orgRef,
      code: [concept({ system: SYSTEM.nucc, code: spec.taxonomy, display: spec.display })],
      specialty: [concept({ system: SYSTEM.nucc, code: spec.taxonomy, display: spec.display })],
      location: [reference('Location', refs.locationId, refs.locationName)],
      telecom: [{ system: 'phone', value: mainPhone, use: 'work' }],
    });
  }
  return out;
}
