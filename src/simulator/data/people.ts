// The four healow sandbox test patients: the same people at every practice.
// Their demographics are fixed here; their charts are generated from these profiles.

import type { Allergy, DeviceKind, Drug, LabPanel, Problem } from './terminology.ts';

export interface TestPerson {
  /** healow login name. */
  username: 'AdultFemaleFHIR' | 'AdultMaleFHIR' | 'ChildFemaleFHIR' | 'ChildMaleFHIR';
  given: string[];
  family: string;
  /** Previous family name (US Core: name.use `old`), for adults who changed it. */
  maidenName?: string;
  gender: 'female' | 'male';
  birthDate: string;
  race: { code: string; display: string };
  ethnicity: { code: string; display: string };
  language: { code: string; display: string };
  maritalStatus?: { code: string; display: string };
  address: { line: string[]; city: string; state: string; postalCode: string };
  phone: string;
  email?: string;
  /** Parent or guardian of a child. */
  guardian?: { given: string; family: string; phone: string };
  smoking: 'never' | 'former' | 'current';
  problems: Problem[];
  /** Past acute problems, each turned into resolved encounter diagnoses. */
  acuteProblems: Problem[];
  allergies: Allergy[];
  drugs: Drug[];
  /** Past drugs, stopped or completed. */
  pastDrugs: Drug[];
  labPanels: LabPanel[];
  devices: DeviceKind[];
  /** Adults see the family physician, children the pediatrician. */
  adult: boolean;
  /** Offsets from a healthy lab mean (in SDs), e.g. a diabetic's glucose. */
  labShift: Partial<Record<string, number>>;
}

export const TEST_PATIENTS: readonly TestPerson[] = [
  {
    username: 'AdultFemaleFHIR',
    given: ['Linda', 'María'],
    family: 'Hernández',
    maidenName: 'Ortiz',
    gender: 'female',
    birthDate: '1968-04-12',
    race: { code: '2106-3', display: 'White' },
    ethnicity: { code: '2135-2', display: 'Hispanic or Latino' },
    language: { code: 'es', display: 'Spanish' },
    maritalStatus: { code: 'M', display: 'Married' },
    address: {
      line: ['42 Lyman Street', 'Apt 3B'],
      city: 'Westborough',
      state: 'MA',
      postalCode: '01581',
    },
    phone: '508-555-0142',
    email: 'linda.hernandez@example.com',
    smoking: 'former',
    problems: [
      'hypertension',
      'diabetes2',
      'hyperlipidemia',
      'hypothyroidism',
      'osteoarthritisKnee',
    ],
    acuteProblems: ['uti', 'sinusitis', 'bronchitis'],
    allergies: ['penicillin', 'latex'],
    drugs: ['lisinopril', 'metformin', 'atorvastatin', 'levothyroxine'],
    pastDrugs: ['ibuprofen', 'amlodipine'],
    labPanels: ['bmp', 'a1c', 'lipid', 'cbc', 'tsh'],
    devices: ['kneeProsthesis'],
    adult: true,
    labShift: { glucose: 4.5, a1c: 10, ldl: 1.5, triglycerides: 1.2, tsh: 1.5 },
  },
  {
    username: 'AdultMaleFHIR',
    given: ['James', 'Robert'],
    family: 'Carter',
    gender: 'male',
    birthDate: '1959-09-23',
    race: { code: '2054-5', display: 'Black or African American' },
    ethnicity: { code: '2186-5', display: 'Not Hispanic or Latino' },
    language: { code: 'en', display: 'English' },
    maritalStatus: { code: 'W', display: 'Widowed' },
    address: { line: ['1180 Beacon Street'], city: 'Brookline', state: 'MA', postalCode: '02446' },
    phone: '617-555-0199',
    email: 'jr.carter@example.org',
    smoking: 'current',
    problems: ['hypertension', 'hyperlipidemia', 'gerd', 'obesity', 'anxiety'],
    acuteProblems: ['bronchitis', 'ankleSprain', 'gastroenteritis'],
    allergies: ['sulfa', 'shellfish', 'codeine'],
    drugs: ['amlodipine', 'atorvastatin', 'omeprazole', 'sertraline'],
    pastDrugs: ['lisinopril', 'ibuprofen'],
    labPanels: ['bmp', 'lipid', 'cbc', 'vitaminD'],
    devices: ['coronaryStent'],
    adult: true,
    labShift: { cholesterol: 2, ldl: 2.5, hdl: -1.5, vitaminD: -2 },
  },
  {
    username: 'ChildFemaleFHIR',
    given: ['Emily', 'Grace'],
    family: 'Nguyen',
    gender: 'female',
    birthDate: '2016-02-08',
    race: { code: '2028-9', display: 'Asian' },
    ethnicity: { code: '2186-5', display: 'Not Hispanic or Latino' },
    language: { code: 'en', display: 'English' },
    address: {
      line: ['7 Orchard Hill Road'],
      city: 'Shrewsbury',
      state: 'MA',
      postalCode: '01545',
    },
    phone: '774-555-0117',
    guardian: { given: 'Thu', family: 'Nguyen', phone: '774-555-0118' },
    smoking: 'never',
    problems: ['asthma', 'allergicRhinitis', 'eczema'],
    acuteProblems: ['otitisMedia', 'pharyngitis', 'conjunctivitis'],
    allergies: ['peanut', 'cat'],
    drugs: ['albuterol', 'fluticasone', 'cetirizine', 'hydrocortisone'],
    pastDrugs: ['amoxicillin'],
    labPanels: ['cbc', 'lead'],
    devices: [],
    adult: false,
    labShift: {},
  },
  {
    username: 'ChildMaleFHIR',
    given: ['Noah', 'Alexander'],
    family: 'Smith',
    gender: 'male',
    birthDate: '2014-11-30',
    race: { code: '2106-3', display: 'White' },
    ethnicity: { code: '2186-5', display: 'Not Hispanic or Latino' },
    language: { code: 'en', display: 'English' },
    address: { line: ['19 Chauncy Street'], city: 'Worcester', state: 'MA', postalCode: '01608' },
    phone: '508-555-0163',
    guardian: { given: 'Rachel', family: 'Smith', phone: '508-555-0164' },
    smoking: 'never',
    problems: ['vitaminDDeficiency'],
    acuteProblems: ['otitisMedia', 'otitisMedia', 'gastroenteritis', 'pharyngitis'],
    allergies: [],
    drugs: ['vitaminD3'],
    pastDrugs: ['amoxicillin', 'ibuprofen'],
    labPanels: ['cbc', 'vitaminD', 'lead'],
    devices: ['tympanostomyTube'],
    adult: false,
    labShift: { vitaminD: -2.5 },
  },
];
