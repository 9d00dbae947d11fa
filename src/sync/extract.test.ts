import { describe, expect, it } from 'vitest';
import { parseBase } from '../fhir/urls.ts';
import { findReferences, localReference, toResourceWrite } from './extract.ts';

const base = parseBase('https://fhir4.healow.com/fhir/r4/JAFJCD');

describe('toResourceWrite', () => {
  it('reads meta and the clinical date of an Observation', () => {
    const resource = {
      resourceType: 'Observation',
      id: 'o.1',
      meta: { versionId: '3', lastUpdated: '2025-09-30T10:00:00.000-04:00' },
      effectivePeriod: { start: '2025-09-01', end: '2025-09-02' },
    };
    expect(toResourceWrite(resource, 'TEXT')).toEqual({
      type: 'Observation',
      id: 'o.1',
      versionId: '3',
      lastUpdated: '2025-09-30T10:00:00.000-04:00',
      lastUpdatedMs: Date.UTC(2025, 8, 30, 14),
      dateStart: Date.UTC(2025, 8, 1),
      dateEnd: Date.UTC(2025, 8, 3),
      json: 'TEXT',
    });
  });

  it('leaves what is missing null', () => {
    expect(toResourceWrite({ resourceType: 'Condition', id: 'c' }, '{}')).toMatchObject({
      versionId: null,
      lastUpdated: null,
      lastUpdatedMs: null,
      dateStart: null,
    });
  });
});

describe('localReference', () => {
  it('takes relative references and absolute ones under the base path, on any host', () => {
    expect(localReference(base, 'Practitioner/pr-1')).toEqual({ type: 'Practitioner', id: 'pr-1' });
    expect(localReference(base, 'Practitioner/pr-1/_history/2')).toEqual({
      type: 'Practitioner',
      id: 'pr-1',
    });
    expect(
      localReference(base, 'http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD/Binary/b.1-x'),
    ).toEqual({ type: 'Binary', id: 'b.1-x' });
  });

  it('refuses other paths, other practices, URNs, contained and queries', () => {
    for (const url of [
      'https://cdn.example/notes/1.pdf',
      'https://fhir4.healow.com/fhir/r4/OTHER/Binary/b',
      'urn:uuid:1234',
      '#contained',
      'Binary?id=1',
      'https://fhir4.healow.com/fhir/r4/JAFJCD/Binary/b?x=1',
      'Practitioner',
    ]) {
      expect(localReference(base, url), url).toBeUndefined();
    }
  });
});

describe('findReferences', () => {
  const resource = {
    resourceType: 'DiagnosticReport',
    id: 'dr',
    subject: { reference: 'Patient/p' },
    performer: [{ reference: 'Organization/lab' }, { reference: 'Organization/lab' }],
    resultsInterpreter: [{ reference: 'Practitioner/pr' }],
    presentedForm: [
      { contentType: 'application/pdf', url: 'Binary/b1', size: 1200 },
      { contentType: 'application/pdf', url: 'https://cdn.example/x.pdf' },
    ],
    extension: [{ url: 'http://hl7.org/ext', valueString: 'not an attachment' }],
  };

  it('finds wanted references once, and attachments as Binary', () => {
    const found = findReferences(resource, base, new Set(['Organization', 'Binary']), true);
    expect(found.references).toEqual([
      { type: 'Organization', id: 'lab' },
      { type: 'Binary', id: 'b1', contentType: 'application/pdf', declaredSize: 1200 },
    ]);
    expect(found.skipped).toEqual([
      {
        what: 'DiagnosticReport/dr attachment',
        reason: 'its URL is not a Binary on the practice base: https://cdn.example/x.pdf',
      },
    ]);
  });

  it('finds no attachments when they are not fetched', () => {
    const found = findReferences(resource, base, new Set(['Practitioner']), false);
    expect(found).toEqual({ references: [{ type: 'Practitioner', id: 'pr' }], skipped: [] });
  });
});
