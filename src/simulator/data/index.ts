// The simulator's patient data: the four test patients at every configured practice, each with
// a deterministic US Core chart built on first use. Implements PatientDirectory for the
// authorization server, and search, read and admin changes for the FHIR server.

import type { PatientDirectory, SimClock, SimPractice } from '../context.ts';
import { createChart, displayNameOf, patientIdOf } from './chart.ts';
import type { FhirResource } from './fhir.ts';
import { TEST_PATIENTS, type TestPerson } from './people.ts';
import type { SearchQuery } from './query.ts';
import {
  createPatientStore,
  DataError,
  type PatientStore,
  type ReadResult,
  type SearchPage,
} from './store.ts';
import { timeZoneOfState, type UsTimeZone } from './time.ts';

export type { FhirResource } from './fhir.ts';
export type { DateCriterion, SearchQuery, TokenCriterion } from './query.ts';
export { isResourceType, RESOURCE_TYPES, SEARCH_PARAMS } from './search-params.ts';
export type { PatientStore, ReadResult, SearchPage } from './store.ts';
export { DataError } from './store.ts';

/**
 * End of the generated histories (2025-10-01T00:00Z): fixed so that the same seed gives the same
 * JSON on any day. Changes made through the admin API carry the simulator clock's time.
 */
export const DATA_EPOCH = Date.UTC(2025, 9, 1);

/** healow's own host, where `foreignLinks` points; also the base of ground-truth attachment URLs. */
export function foreignBase(practiceCode: string): string {
  return `http://fhir4.eclinicalworks.com/fhir/r4/${practiceCode}`;
}

export interface TestPatientInfo {
  username: string;
  patientId: string;
  displayName: string;
}

export interface PatientData extends PatientDirectory {
  readonly seed: string;
  /** The practice's time zone (every timestamp carries its offset). */
  zoneOf(practiceCode: string): UsTimeZone;
  /** The test patients of a practice (empty for an unknown one). */
  patients(practiceCode: string): TestPatientInfo[];
  /** The patient's store, built on first use; undefined for an unknown practice or patient. */
  store(practiceCode: string, patientId: string): PatientStore | undefined;
  search(
    practiceCode: string,
    patientId: string,
    type: string,
    query: SearchQuery,
    page: { after: number; count: number; linkBase: string },
  ): SearchPage;
  read(
    practiceCode: string,
    patientId: string,
    type: string,
    id: string,
    linkBase: string,
  ): ReadResult;
  /** Ground truth: every live resource of the patient (optionally one type). */
  allResources(
    practiceCode: string,
    patientId: string,
    options?: { type?: string; linkBase?: string },
  ): FhirResource[];
  /** Adds a resource (an id is assigned when missing); meta.versionId 1, lastUpdated now. */
  addResource(practiceCode: string, patientId: string, resource: FhirResource): FhirResource;
  /** Replaces a resource by type and id; bumps meta.versionId and meta.lastUpdated. */
  replaceResource(practiceCode: string, patientId: string, resource: FhirResource): FhirResource;
  /** Changes a resource (merging top-level `patch` fields); bumps meta.versionId and meta.lastUpdated. */
  changeResource(
    practiceCode: string,
    patientId: string,
    type: string,
    id: string,
    patch?: Record<string, unknown>,
  ): FhirResource;
  deleteResource(practiceCode: string, patientId: string, type: string, id: string): void;
}

export interface PatientDataOptions {
  practices: SimPractice[];
  seed?: string;
  /** Size knob for benchmarks: resources per patient (at least the chart's fixed part). */
  resourcesPerPatient?: number;
  clock: SimClock;
  /** End of the generated history; DATA_EPOCH by default. */
  epoch?: number;
}

export function createPatientData(options: PatientDataOptions): PatientData {
  const seed = options.seed ?? 'fhirbridge-simulator';
  const epoch = options.epoch ?? DATA_EPOCH;
  const practices = new Map(options.practices.map((p) => [p.code, p]));
  const byPatientId = new Map<
    string,
    { practice: SimPractice; person: TestPerson; patientId: string }
  >();
  for (const practice of practices.values()) {
    for (const person of TEST_PATIENTS) {
      const patientId = patientIdOf(seed, practice.code, person.username);
      byPatientId.set(`${practice.code}/${patientId}`, { practice, person, patientId });
    }
  }
  const stores = new Map<string, PatientStore>();

  const storeOf = (practiceCode: string, patientId: string): PatientStore | undefined => {
    const key = `${practiceCode}/${patientId}`;
    const cached = stores.get(key);
    if (cached) return cached;
    const entry = byPatientId.get(key);
    if (!entry) return undefined;
    const chart = createChart(seed, entry.practice, entry.person, epoch);
    const store = createPatientStore(chart, options.resourcesPerPatient, foreignBase(practiceCode));
    stores.set(key, store);
    return store;
  };
  const required = (practiceCode: string, patientId: string): PatientStore => {
    const store = storeOf(practiceCode, patientId);
    if (!store)
      throw new DataError('not_found', `no test patient ${patientId} at practice ${practiceCode}`);
    return store;
  };

  return {
    seed,
    usernames: () => TEST_PATIENTS.map((p) => p.username),
    patientIdFor(practiceCode, username) {
      if (!practices.has(practiceCode)) return undefined;
      const person = TEST_PATIENTS.find((p) => p.username.toLowerCase() === username.toLowerCase());
      return person ? patientIdOf(seed, practiceCode, person.username) : undefined;
    },
    displayName(practiceCode, patientId) {
      const entry = byPatientId.get(`${practiceCode}/${patientId}`);
      return entry ? displayNameOf(entry.person) : undefined;
    },
    zoneOf: (practiceCode) => timeZoneOfState(practices.get(practiceCode)?.state ?? ''),
    patients(practiceCode) {
      if (!practices.has(practiceCode)) return [];
      return TEST_PATIENTS.map((person) => ({
        username: person.username,
        patientId: patientIdOf(seed, practiceCode, person.username),
        displayName: displayNameOf(person),
      }));
    },
    store: storeOf,
    search(practiceCode, patientId, type, query, page) {
      return required(practiceCode, patientId).search(
        type,
        query,
        page.after,
        page.count,
        page.linkBase,
      );
    },
    read(practiceCode, patientId, type, id, linkBase) {
      return required(practiceCode, patientId).read(type, id, linkBase);
    },
    allResources(practiceCode, patientId, opts = {}) {
      const resources = required(practiceCode, patientId).all(
        opts.linkBase ?? foreignBase(practiceCode),
        opts.type,
      );
      return structuredClone(resources);
    },
    addResource(practiceCode, patientId, resource) {
      return required(practiceCode, patientId).add(resource, options.clock.now());
    },
    replaceResource(practiceCode, patientId, resource) {
      return required(practiceCode, patientId).replace(resource, options.clock.now());
    },
    changeResource(practiceCode, patientId, type, id, patch = {}) {
      return required(practiceCode, patientId).change(
        type,
        id,
        patch,
        options.clock.now(),
        foreignBase(practiceCode),
      );
    },
    deleteResource(practiceCode, patientId, type, id) {
      required(practiceCode, patientId).remove(type, id, options.clock.now());
    },
  };
}
