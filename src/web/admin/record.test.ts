import { describe, expect, it } from 'vitest';
import { readRecord } from './record.ts';

const loinc = (code: string) => ({ coding: [{ system: 'http://loinc.org', code }] });
const lab = [{ coding: [{ code: 'laboratory' }] }];

describe('readRecord', () => {
  it('charts blood pressure components, vital signs and numeric labs with their ranges, oldest first', () => {
    const view = readRecord([
      {
        resourceType: 'Patient',
        name: [{ given: ['Linda'], family: 'Ramos' }],
        birthDate: '1968-04-12',
      },
      {
        resourceType: 'Observation',
        code: loinc('85354-9'),
        effectiveDateTime: '2024-05-02T10:00:00Z',
        component: [
          { code: loinc('8480-6'), valueQuantity: { value: 128 } },
          { code: loinc('8462-4'), valueQuantity: { value: 82 } },
        ],
      },
      {
        resourceType: 'Observation',
        code: loinc('29463-7'),
        effectiveDateTime: '2024-05-02',
        valueQuantity: { value: 70.5, unit: 'kg' },
      },
      {
        resourceType: 'Observation',
        code: loinc('29463-7'),
        effectiveDateTime: '2023-01-09',
        valueQuantity: { value: 72, unit: 'kg' },
      },
      {
        resourceType: 'Observation',
        category: lab,
        code: { ...loinc('2345-7'), text: 'Glucose' },
        effectivePeriod: { start: '2022-03-01T08:00:00Z' },
        valueQuantity: { value: 99, unit: 'mg/dL' },
        referenceRange: [{ low: { value: 70 }, high: { value: 99 } }],
      },
      // Neither a charted vital sign nor a lab; and a lab without a number.
      {
        resourceType: 'Observation',
        code: loinc('72166-2'),
        effectiveDateTime: '2024-01-01',
        valueCodeableConcept: {},
      },
      {
        resourceType: 'Observation',
        category: lab,
        code: loinc('5778-6'),
        effectiveDateTime: '2024-01-01',
        valueString: 'yellow',
      },
    ]);
    expect(view.patient).toEqual({ name: 'Linda Ramos', birthDate: '1968-04-12', gender: null });
    expect(view.charts).toEqual([
      {
        id: '85354-9',
        label: 'Blood pressure',
        unit: 'mmHg',
        kind: 'vital',
        series: [
          { name: 'Systolic', points: [[Date.parse('2024-05-02T10:00:00Z'), 128]] },
          { name: 'Diastolic', points: [[Date.parse('2024-05-02T10:00:00Z'), 82]] },
        ],
        low: null,
        high: null,
      },
      {
        id: '29463-7',
        label: 'Body weight',
        unit: 'kg',
        kind: 'vital',
        series: [
          {
            name: 'Body weight',
            points: [
              [Date.parse('2023-01-09'), 72],
              [Date.parse('2024-05-02'), 70.5],
            ],
          },
        ],
        low: null,
        high: null,
      },
      {
        id: '2345-7',
        label: 'Glucose',
        unit: 'mg/dL',
        kind: 'lab',
        series: [{ name: 'Glucose', points: [[Date.parse('2022-03-01T08:00:00Z'), 99]] }],
        low: 70,
        high: 99,
      },
    ]);
  });

  it('puts visits, conditions and procedures on one timeline, newest first', () => {
    const view = readRecord([
      { resourceType: 'Condition', code: { text: 'Hypertension' }, onsetDateTime: '2019-06-01' },
      {
        resourceType: 'Encounter',
        period: { start: '2024-02-01T09:00:00Z' },
        type: [{ text: 'Office visit' }],
      },
      {
        resourceType: 'Procedure',
        code: { text: 'Spirometry' },
        performedPeriod: { start: '2021-03-03' },
      },
      { resourceType: 'Condition', code: { text: 'No date' } },
    ]);
    expect(view.timeline.map((t) => [t.kind, t.text])).toEqual([
      ['Visit', 'Office visit'],
      ['Procedure', 'Spirometry'],
      ['Condition', 'Hypertension'],
    ]);
  });
});
