import { describe, expect, it } from 'vitest';
import { SEARCH_PARAMS } from '../data/index.ts';
import { resolveSimulatorOptions } from '../options.ts';
import {
  genericParameterSet,
  HEALOW_PARAMETER_SETS,
  healowParameterSets,
  matchParameterSet,
  unknownParameterSetDiagnostics,
} from './parameter-sets.ts';

const quirks = () => resolveSimulatorOptions().quirks;

describe('HAPI plain-server search methods', () => {
  it('matches a method when every required name is there and nothing undeclared', () => {
    const sets = healowParameterSets('Observation', quirks());
    expect(matchParameterSet(sets, ['patient', 'category'])?.evidence).toBe('seen');
    expect(matchParameterSet(sets, ['category', 'patient', '_count'])).toBeDefined();
    expect(matchParameterSet(sets, ['patient', 'code', 'date'])?.evidence).toBe('assumed');
    expect(matchParameterSet(sets, ['patient', '_count'])).toBeUndefined();
    expect(matchParameterSet(sets, ['patient', 'category', 'foo'])).toBeUndefined();
    expect(matchParameterSet(sets, ['patient:Patient', 'category'])).toBeDefined();
  });

  it('CarePlan needs category, CareTeam status; healow refuses the switched parameters by default', () => {
    const q = quirks();
    expect(matchParameterSet(healowParameterSets('CarePlan', q), ['patient'])).toBeUndefined();
    expect(matchParameterSet(healowParameterSets('CareTeam', q), ['patient'])).toBeUndefined();
    expect(
      matchParameterSet(healowParameterSets('CareTeam', q), ['patient', 'status']),
    ).toBeDefined();
    const conditions = healowParameterSets('Condition', q);
    expect(matchParameterSet(conditions, ['patient', '_lastUpdated'])).toBeUndefined();
    expect(matchParameterSet(conditions, ['patient', '_include'])).toBeUndefined();
    expect(matchParameterSet(healowParameterSets('Patient', q), ['_id'])).toBeUndefined();
    expect(healowParameterSets('Provenance', q)).toEqual([]);
    expect(healowParameterSets('Practitioner', q)).toEqual([]);
  });

  it('adds the switched parameters where accepted', () => {
    const q = {
      ...quirks(),
      searchLastUpdated: 'accept',
      searchPatientById: 'accept',
      searchInclude: 'accept',
    } as const;
    const conditions = healowParameterSets('Condition', q);
    expect(matchParameterSet(conditions, ['patient', '_lastUpdated'])).toBeDefined();
    expect(matchParameterSet(conditions, ['patient', '_include', '_revinclude'])).toBeDefined();
    expect(matchParameterSet(healowParameterSets('Patient', q), ['_id'])).toBeDefined();
    // Still a method's parameters: _lastUpdated alone is not a search of Condition.
    expect(matchParameterSet(conditions, ['_lastUpdated'])).toBeUndefined();
  });

  it('the generic server takes every parameter it knows, none required', () => {
    const set = genericParameterSet('Observation');
    expect(set).toBeDefined();
    const sets = set ? [set] : [];
    expect(matchParameterSet(sets, [])).toBeDefined();
    expect(
      matchParameterSet(sets, ['patient', '_lastUpdated', '_id', '_include', 'code']),
    ).toBeDefined();
    expect(matchParameterSet(sets, ['foo'])).toBeUndefined();
    expect(genericParameterSet('Binary')).toBeUndefined();
  });

  it("words the refusal as HAPI does, in the request's order", () => {
    expect(unknownParameterSetDiagnostics(['patient', '_count'])).toBe(
      'Invalid request: Does not know how to handle get operation with parameter [patient,_count]',
    );
    expect(unknownParameterSetDiagnostics(['foo', 'patient'])).toBe(
      'Invalid request: Does not know how to handle get operation with parameter [foo,patient]',
    );
  });

  it('declares only parameters the data can answer, so an accepted search is never silently wrong', () => {
    const special = new Set([
      'patient',
      '_id',
      '_lastUpdated',
      '_since',
      '_include',
      '_revinclude',
    ]);
    for (const [type, sets] of Object.entries(HEALOW_PARAMETER_SETS)) {
      const spec = SEARCH_PARAMS[type];
      expect(spec, type).toBeDefined();
      const known = new Set([...Object.keys(spec?.tokens ?? {}), spec?.date?.name, ...special]);
      for (const set of sets) {
        for (const name of [...set.required, ...set.optional]) {
          expect(known.has(name), `${type}.${name}`).toBe(true);
        }
      }
    }
  });
});
