// Code systems and the clinical vocabulary of the generated records: LOINC vital signs and labs
// with UCUM units and reference ranges, SNOMED CT / ICD-10-CM problems, RxNorm drugs, CVX
// vaccines, CPT procedures: what US Core 3.1.1 profiles bind to.

export const SYSTEM = {
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  icd10: 'http://hl7.org/fhir/sid/icd-10-cm',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  cpt: 'http://www.ama-assn.org/go/cpt',
  ucum: 'http://unitsofmeasure.org',
  npi: 'http://hl7.org/fhir/sid/us-npi',
  nucc: 'http://nucc.org/provider-taxonomy',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  allergyClinical: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
  allergyVerification: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification',
  v2_0074: 'http://terminology.hl7.org/CodeSystem/v2-0074',
  v2_0203: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  v3ActCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  v3Participation: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  v3MaritalStatus: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus',
  v3RoleCode: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
  v3NullFlavor: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor',
  interpretation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
  omb: 'urn:oid:2.16.840.1.113883.6.238',
  carePlanCategory: 'http://hl7.org/fhir/us/core/CodeSystem/careplan-category',
  documentCategory: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
  provenanceParticipant: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  usCoreProvenanceParticipant:
    'http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type',
  medicationRequestCategory: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category',
  goalAchievement: 'http://terminology.hl7.org/CodeSystem/goal-achievement',
  bcp47: 'urn:ietf:bcp:47',
  formatCode: 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode',
} as const;

export const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition';

export interface Code {
  system: string;
  code: string;
  display: string;
}

const loinc = (code: string, display: string): Code => ({ system: SYSTEM.loinc, code, display });
const snomed = (code: string, display: string): Code => ({ system: SYSTEM.snomed, code, display });

// ---------------------------------------------------------------------------------------------
// Vital signs (US Core vital signs profiles: LOINC codes, UCUM units)

export type VitalKind =
  | 'bloodPressure'
  | 'heartRate'
  | 'respiratoryRate'
  | 'temperature'
  | 'weight'
  | 'height'
  | 'bmi'
  | 'oxygenSaturation'
  | 'headCircumference'
  | 'bmiPercentile'
  | 'weightForLength';

export interface VitalSpec {
  code: Code;
  /** Extra codings US Core asks for (e.g. pulse oximetry also as 59408-5). */
  extra?: Code[];
  unit: string;
  ucum: string;
  profile: string;
  decimals: number;
}

export const VITALS: Record<VitalKind, VitalSpec> = {
  bloodPressure: {
    code: loinc('85354-9', 'Blood pressure panel with all children optional'),
    unit: 'mmHg',
    ucum: 'mm[Hg]',
    profile: 'http://hl7.org/fhir/StructureDefinition/bp',
    decimals: 0,
  },
  heartRate: {
    code: loinc('8867-4', 'Heart rate'),
    unit: 'beats/minute',
    ucum: '/min',
    profile: 'http://hl7.org/fhir/StructureDefinition/heartrate',
    decimals: 0,
  },
  respiratoryRate: {
    code: loinc('9279-1', 'Respiratory rate'),
    unit: 'breaths/minute',
    ucum: '/min',
    profile: 'http://hl7.org/fhir/StructureDefinition/resprate',
    decimals: 0,
  },
  temperature: {
    code: loinc('8310-5', 'Body temperature'),
    unit: 'C',
    ucum: 'Cel',
    profile: 'http://hl7.org/fhir/StructureDefinition/bodytemp',
    decimals: 1,
  },
  weight: {
    code: loinc('29463-7', 'Body weight'),
    unit: 'kg',
    ucum: 'kg',
    profile: 'http://hl7.org/fhir/StructureDefinition/bodyweight',
    decimals: 1,
  },
  height: {
    code: loinc('8302-2', 'Body height'),
    unit: 'cm',
    ucum: 'cm',
    profile: 'http://hl7.org/fhir/StructureDefinition/bodyheight',
    decimals: 1,
  },
  bmi: {
    code: loinc('39156-5', 'Body mass index (BMI) [Ratio]'),
    unit: 'kg/m2',
    ucum: 'kg/m2',
    profile: 'http://hl7.org/fhir/StructureDefinition/bmi',
    decimals: 1,
  },
  oxygenSaturation: {
    code: loinc('2708-6', 'Oxygen saturation in Arterial blood'),
    extra: [loinc('59408-5', 'Oxygen saturation in Arterial blood by Pulse oximetry')],
    unit: '%',
    ucum: '%',
    profile: `${US_CORE}/us-core-pulse-oximetry`,
    decimals: 0,
  },
  headCircumference: {
    code: loinc('9843-4', 'Head Occipital-frontal circumference'),
    unit: 'cm',
    ucum: 'cm',
    profile: `${US_CORE}/us-core-head-circumference`,
    decimals: 1,
  },
  bmiPercentile: {
    code: loinc('59576-9', 'Body mass index (BMI) [Percentile] Per age and sex'),
    unit: '%',
    ucum: '%',
    profile: `${US_CORE}/pediatric-bmi-for-age`,
    decimals: 0,
  },
  weightForLength: {
    code: loinc('77606-2', 'Weight-for-length Per age and sex'),
    unit: '%',
    ucum: '%',
    profile: `${US_CORE}/pediatric-weight-for-height`,
    decimals: 0,
  },
};

export const BP_SYSTOLIC = loinc('8480-6', 'Systolic blood pressure');
export const BP_DIASTOLIC = loinc('8462-4', 'Diastolic blood pressure');

/** Eight vital signs at every visit, by age (US Core: pediatric percentiles under 20). */
export function vitalKindsForAge(ageYears: number): VitalKind[] {
  if (ageYears < 2) {
    return [
      'heartRate',
      'respiratoryRate',
      'temperature',
      'weight',
      'height',
      'headCircumference',
      'oxygenSaturation',
      'weightForLength',
    ];
  }
  if (ageYears < 18) {
    return [
      'bloodPressure',
      'heartRate',
      'respiratoryRate',
      'temperature',
      'weight',
      'height',
      'bmi',
      'bmiPercentile',
    ];
  }
  return [
    'bloodPressure',
    'heartRate',
    'respiratoryRate',
    'temperature',
    'weight',
    'height',
    'bmi',
    'oxygenSaturation',
  ];
}

// ---------------------------------------------------------------------------------------------
// Laboratory (US Core Laboratory Result Observation: LOINC, UCUM, reference ranges)

export type LabTest =
  | 'glucose'
  | 'sodium'
  | 'potassium'
  | 'creatinine'
  | 'bun'
  | 'wbc'
  | 'hemoglobin'
  | 'hematocrit'
  | 'platelets'
  | 'cholesterol'
  | 'ldl'
  | 'hdl'
  | 'triglycerides'
  | 'a1c'
  | 'tsh'
  | 'vitaminD'
  | 'lead';

export interface LabSpec {
  code: Code;
  ucum: string;
  decimals: number;
  /** Reference range (either bound may be open), per sex where it differs. */
  low?: number;
  high?: number;
  lowFemale?: number;
  highFemale?: number;
  /** Typical value and spread of a healthy person. */
  mean: number;
  sd: number;
}

export const LABS: Record<LabTest, LabSpec> = {
  glucose: {
    code: loinc('2345-7', 'Glucose [Mass/volume] in Serum or Plasma'),
    ucum: 'mg/dL',
    decimals: 0,
    low: 70,
    high: 99,
    mean: 88,
    sd: 9,
  },
  sodium: {
    code: loinc('2951-2', 'Sodium [Moles/volume] in Serum or Plasma'),
    ucum: 'mmol/L',
    decimals: 0,
    low: 136,
    high: 145,
    mean: 140,
    sd: 2,
  },
  potassium: {
    code: loinc('2823-3', 'Potassium [Moles/volume] in Serum or Plasma'),
    ucum: 'mmol/L',
    decimals: 1,
    low: 3.5,
    high: 5.1,
    mean: 4.2,
    sd: 0.3,
  },
  creatinine: {
    code: loinc('2160-0', 'Creatinine [Mass/volume] in Serum or Plasma'),
    ucum: 'mg/dL',
    decimals: 2,
    low: 0.74,
    high: 1.35,
    lowFemale: 0.59,
    highFemale: 1.04,
    mean: 0.9,
    sd: 0.12,
  },
  bun: {
    code: loinc('3094-0', 'Urea nitrogen [Mass/volume] in Serum or Plasma'),
    ucum: 'mg/dL',
    decimals: 0,
    low: 7,
    high: 20,
    mean: 14,
    sd: 3,
  },
  wbc: {
    code: loinc('6690-2', 'Leukocytes [#/volume] in Blood by Automated count'),
    ucum: '10*3/uL',
    decimals: 1,
    low: 4.5,
    high: 11,
    mean: 7,
    sd: 1.4,
  },
  hemoglobin: {
    code: loinc('718-7', 'Hemoglobin [Mass/volume] in Blood'),
    ucum: 'g/dL',
    decimals: 1,
    low: 13.5,
    high: 17.5,
    lowFemale: 12,
    highFemale: 15.5,
    mean: 14,
    sd: 1,
  },
  hematocrit: {
    code: loinc('4544-3', 'Hematocrit [Volume Fraction] of Blood by Automated count'),
    ucum: '%',
    decimals: 1,
    low: 41,
    high: 53,
    lowFemale: 36,
    highFemale: 46,
    mean: 42,
    sd: 2.5,
  },
  platelets: {
    code: loinc('777-3', 'Platelets [#/volume] in Blood by Automated count'),
    ucum: '10*3/uL',
    decimals: 0,
    low: 150,
    high: 400,
    mean: 260,
    sd: 45,
  },
  cholesterol: {
    code: loinc('2093-3', 'Cholesterol [Mass/volume] in Serum or Plasma'),
    ucum: 'mg/dL',
    decimals: 0,
    high: 200,
    mean: 185,
    sd: 20,
  },
  ldl: {
    code: loinc('13457-7', 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation'),
    ucum: 'mg/dL',
    decimals: 0,
    high: 100,
    mean: 105,
    sd: 18,
  },
  hdl: {
    code: loinc('2085-9', 'Cholesterol in HDL [Mass/volume] in Serum or Plasma'),
    ucum: 'mg/dL',
    decimals: 0,
    low: 40,
    lowFemale: 50,
    mean: 52,
    sd: 8,
  },
  triglycerides: {
    code: loinc('2571-8', 'Triglyceride [Mass/volume] in Serum or Plasma'),
    ucum: 'mg/dL',
    decimals: 0,
    high: 150,
    mean: 130,
    sd: 30,
  },
  a1c: {
    code: loinc('4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood'),
    ucum: '%',
    decimals: 1,
    low: 4,
    high: 5.6,
    mean: 5.3,
    sd: 0.2,
  },
  tsh: {
    code: loinc('3016-3', 'Thyrotropin [Units/volume] in Serum or Plasma'),
    ucum: 'm[IU]/L',
    decimals: 2,
    low: 0.4,
    high: 4,
    mean: 1.9,
    sd: 0.6,
  },
  vitaminD: {
    code: loinc('1989-3', '25-Hydroxyvitamin D3 [Mass/volume] in Serum or Plasma'),
    ucum: 'ng/mL',
    decimals: 0,
    low: 30,
    high: 100,
    mean: 34,
    sd: 8,
  },
  lead: {
    code: loinc('5671-3', 'Lead [Mass/volume] in Blood'),
    ucum: 'ug/dL',
    decimals: 1,
    high: 3.5,
    mean: 1.2,
    sd: 0.5,
  },
};

export type LabPanel = 'cbc' | 'bmp' | 'lipid' | 'a1c' | 'tsh' | 'vitaminD' | 'lead';

/** Panels: the DiagnosticReport code and its member tests. */
export const PANELS: Record<LabPanel, { code: Code; tests: LabTest[] }> = {
  cbc: {
    code: loinc('58410-2', 'CBC panel - Blood by Automated count'),
    tests: ['wbc', 'hemoglobin', 'hematocrit', 'platelets'],
  },
  bmp: {
    code: loinc('51990-0', 'Basic metabolic panel - Blood'),
    tests: ['glucose', 'bun', 'creatinine', 'sodium', 'potassium'],
  },
  lipid: {
    code: loinc('57698-3', 'Lipid panel with direct LDL - Serum or Plasma'),
    tests: ['cholesterol', 'triglycerides', 'hdl', 'ldl'],
  },
  a1c: { code: loinc('4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood'), tests: ['a1c'] },
  tsh: { code: loinc('3016-3', 'Thyrotropin [Units/volume] in Serum or Plasma'), tests: ['tsh'] },
  vitaminD: {
    code: loinc('62292-8', '25-Hydroxyvitamin D2+D3 [Mass/volume] in Serum or Plasma'),
    tests: ['vitaminD'],
  },
  lead: { code: loinc('5671-3', 'Lead [Mass/volume] in Blood'), tests: ['lead'] },
};

// ---------------------------------------------------------------------------------------------
// Social history (US Core Smoking Status)

export const SMOKING_STATUS = loinc('72166-2', 'Tobacco smoking status');
export const SMOKING_VALUES = {
  never: snomed('266919005', 'Never smoked tobacco'),
  former: snomed('8517006', 'Ex-smoker'),
  current: snomed('449868002', 'Smokes tobacco daily'),
} as const;

// ---------------------------------------------------------------------------------------------
// Problems, allergies, drugs, vaccines, procedures, documents

export interface ProblemSpec {
  snomed: Code;
  icd10: Code;
  chronic: boolean;
}

const problem = (sct: string, icd: string, display: string, chronic: boolean): ProblemSpec => ({
  snomed: snomed(sct, display),
  icd10: { system: SYSTEM.icd10, code: icd, display },
  chronic,
});

export const PROBLEMS = {
  hypertension: problem('38341003', 'I10', 'Essential hypertension', true),
  diabetes2: problem('44054006', 'E11.9', 'Type 2 diabetes mellitus without complications', true),
  hyperlipidemia: problem('55822004', 'E78.5', 'Hyperlipidemia', true),
  hypothyroidism: problem('40930008', 'E03.9', 'Hypothyroidism', true),
  gerd: problem('235595009', 'K21.9', 'Gastro-esophageal reflux disease without esophagitis', true),
  osteoarthritisKnee: problem('239873007', 'M17.9', 'Osteoarthritis of knee', true),
  anxiety: problem('197480006', 'F41.9', 'Anxiety disorder', true),
  migraine: problem('37796009', 'G43.909', 'Migraine', true),
  obesity: problem('414916001', 'E66.9', 'Obesity', true),
  vitaminDDeficiency: problem('34713006', 'E55.9', 'Vitamin D deficiency', false),
  asthma: problem('195967001', 'J45.909', 'Asthma', true),
  allergicRhinitis: problem('61582004', 'J30.9', 'Allergic rhinitis', true),
  eczema: problem('43116000', 'L30.9', 'Eczema', true),
  otitisMedia: problem('65363002', 'H66.90', 'Otitis media', false),
  bronchitis: problem('10509002', 'J20.9', 'Acute bronchitis', false),
  pharyngitis: problem('363746003', 'J02.9', 'Acute pharyngitis', false),
  sinusitis: problem('15805002', 'J01.90', 'Acute sinusitis', false),
  uti: problem('68566005', 'N39.0', 'Urinary tract infection', false),
  gastroenteritis: problem('25374005', 'K52.9', 'Gastroenteritis', false),
  ankleSprain: problem('44465007', 'S93.409A', 'Sprain of ankle', false),
  conjunctivitis: problem('9826008', 'H10.9', 'Conjunctivitis', false),
} as const satisfies Record<string, ProblemSpec>;
export type Problem = keyof typeof PROBLEMS;

export interface AllergySpec {
  code: Code;
  category: 'medication' | 'food' | 'environment';
  criticality: 'low' | 'high';
  reaction: Code;
}

export const ALLERGIES = {
  penicillin: {
    code: { system: SYSTEM.rxnorm, code: '7980', display: 'Penicillin G' },
    category: 'medication',
    criticality: 'high',
    reaction: snomed('247472004', 'Hives'),
  },
  sulfa: {
    code: { system: SYSTEM.rxnorm, code: '10831', display: 'Sulfamethoxazole' },
    category: 'medication',
    criticality: 'low',
    reaction: snomed('271807003', 'Skin rash'),
  },
  codeine: {
    code: { system: SYSTEM.rxnorm, code: '2670', display: 'Codeine' },
    category: 'medication',
    criticality: 'low',
    reaction: snomed('422587007', 'Nausea'),
  },
  peanut: {
    code: snomed('256349002', 'Peanut - dietary'),
    category: 'food',
    criticality: 'high',
    reaction: snomed('39579001', 'Anaphylaxis'),
  },
  shellfish: {
    code: snomed('227037002', 'Fish - dietary'),
    category: 'food',
    criticality: 'high',
    reaction: snomed('267038008', 'Edema'),
  },
  latex: {
    code: snomed('111088007', 'Latex'),
    category: 'environment',
    criticality: 'low',
    reaction: snomed('40275004', 'Contact dermatitis'),
  },
  cat: {
    code: snomed('288328004', 'Cat dander'),
    category: 'environment',
    criticality: 'low',
    reaction: snomed('267101005', 'Rhinorrhea'),
  },
} as const satisfies Record<string, AllergySpec>;
export type Allergy = keyof typeof ALLERGIES;

/** US Core: "no known allergies" is a SNOMED code on an AllergyIntolerance. */
export const NO_KNOWN_ALLERGY = snomed('716186003', 'No known allergy');

export interface DrugSpec {
  code: Code;
  doseForm: Code;
  dosage: string;
  /** Times per day. */
  frequency: number;
  quantity: number;
}

const rx = (code: string, display: string): Code => ({ system: SYSTEM.rxnorm, code, display });
const form = (code: string, display: string): Code => snomed(code, display);
const TABLET = form('385055001', 'Tablet');
const CAPSULE = form('385049006', 'Capsule');
const INHALER = form('420317006', 'Inhalation suspension');
const SUSPENSION = form('387069000', 'Oral suspension');
const CREAM = form('385101003', 'Cutaneous cream');
const SPRAY = form('385157007', 'Nasal spray');

export const DRUGS = {
  lisinopril: {
    code: rx('314076', 'lisinopril 10 MG Oral Tablet'),
    doseForm: TABLET,
    dosage: 'Take 1 tablet by mouth once daily',
    frequency: 1,
    quantity: 90,
  },
  amlodipine: {
    code: rx('197361', 'amlodipine 5 MG Oral Tablet'),
    doseForm: TABLET,
    dosage: 'Take 1 tablet by mouth once daily',
    frequency: 1,
    quantity: 90,
  },
  metformin: {
    code: rx('861007', 'metformin hydrochloride 500 MG Oral Tablet'),
    doseForm: TABLET,
    dosage: 'Take 1 tablet by mouth twice daily with meals',
    frequency: 2,
    quantity: 180,
  },
  atorvastatin: {
    code: rx('617310', 'atorvastatin 20 MG Oral Tablet'),
    doseForm: TABLET,
    dosage: 'Take 1 tablet by mouth at bedtime',
    frequency: 1,
    quantity: 90,
  },
  levothyroxine: {
    code: rx('966222', 'levothyroxine sodium 0.05 MG Oral Tablet'),
    doseForm: TABLET,
    dosage: 'Take 1 tablet by mouth every morning on an empty stomach',
    frequency: 1,
    quantity: 90,
  },
  omeprazole: {
    code: rx('402014', 'omeprazole 20 MG Delayed Release Oral Capsule'),
    doseForm: CAPSULE,
    dosage: 'Take 1 capsule by mouth daily before breakfast',
    frequency: 1,
    quantity: 30,
  },
  sertraline: {
    code: rx('312938', 'sertraline 50 MG Oral Tablet'),
    doseForm: TABLET,
    dosage: 'Take 1 tablet by mouth once daily',
    frequency: 1,
    quantity: 30,
  },
  sumatriptan: {
    code: rx('313422', 'sumatriptan 50 MG Oral Tablet'),
    doseForm: TABLET,
    dosage: 'Take 1 tablet at migraine onset; may repeat once after 2 hours',
    frequency: 1,
    quantity: 9,
  },
  ibuprofen: {
    code: rx('197806', 'ibuprofen 600 MG Oral Tablet'),
    doseForm: TABLET,
    dosage: 'Take 1 tablet by mouth every 8 hours as needed for pain',
    frequency: 3,
    quantity: 30,
  },
  albuterol: {
    code: rx('745679', 'albuterol 0.09 MG/ACTUAT Metered Dose Inhaler'),
    doseForm: INHALER,
    dosage: 'Inhale 2 puffs every 4 to 6 hours as needed for wheezing',
    frequency: 4,
    quantity: 1,
  },
  fluticasone: {
    code: rx('896188', 'fluticasone propionate 0.05 MG/ACTUAT Nasal Spray'),
    doseForm: SPRAY,
    dosage: '1 spray in each nostril once daily',
    frequency: 1,
    quantity: 1,
  },
  amoxicillin: {
    code: rx('308182', 'amoxicillin 250 MG/5ML Oral Suspension'),
    doseForm: SUSPENSION,
    dosage: 'Take 5 mL by mouth twice daily for 10 days',
    frequency: 2,
    quantity: 100,
  },
  cetirizine: {
    code: rx('1014678', 'cetirizine hydrochloride 1 MG/ML Oral Solution'),
    doseForm: SUSPENSION,
    dosage: 'Take 5 mL by mouth once daily',
    frequency: 1,
    quantity: 120,
  },
  hydrocortisone: {
    code: rx('106258', 'hydrocortisone 10 MG/ML Topical Cream'),
    doseForm: CREAM,
    dosage: 'Apply a thin layer to affected areas twice daily',
    frequency: 2,
    quantity: 1,
  },
  vitaminD3: {
    code: rx('636676', 'cholecalciferol 50 MCG Oral Capsule'),
    doseForm: CAPSULE,
    dosage: 'Take 1 capsule by mouth once daily',
    frequency: 1,
    quantity: 90,
  },
} as const satisfies Record<string, DrugSpec>;
export type Drug = keyof typeof DRUGS;

export interface VaccineSpec {
  cvx: Code;
}

const cvx = (code: string, display: string): VaccineSpec => ({
  cvx: { system: SYSTEM.cvx, code, display },
});

export const VACCINES = {
  influenza: cvx('150', 'Influenza, injectable, quadrivalent, preservative free'),
  tdap: cvx('115', 'Tdap'),
  covid: cvx(
    '208',
    'SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose',
  ),
  zoster: cvx('187', 'Zoster vaccine recombinant'),
  pneumococcal: cvx('215', 'Pneumococcal conjugate vaccine 15-valent'),
  hepB: cvx('08', 'Hep B, adolescent or pediatric'),
  rotavirus: cvx('116', 'Rotavirus, pentavalent'),
  dtap: cvx('20', 'DTaP'),
  hib: cvx('49', 'Hib (PRP-OMP)'),
  pcv13: cvx('133', 'Pneumococcal conjugate PCV 13'),
  ipv: cvx('10', 'IPV'),
  mmr: cvx('03', 'MMR'),
  varicella: cvx('21', 'Varicella'),
  hepA: cvx('83', 'Hep A, ped/adol, 2 dose'),
} as const satisfies Record<string, VaccineSpec>;
export type Vaccine = keyof typeof VACCINES;

/** CDC childhood schedule: vaccine at an age in months. */
export const CHILD_SCHEDULE: readonly (readonly [Vaccine, number])[] = [
  ['hepB', 0],
  ['hepB', 1],
  ['rotavirus', 2],
  ['dtap', 2],
  ['hib', 2],
  ['pcv13', 2],
  ['ipv', 2],
  ['rotavirus', 4],
  ['dtap', 4],
  ['hib', 4],
  ['pcv13', 4],
  ['ipv', 4],
  ['rotavirus', 6],
  ['dtap', 6],
  ['pcv13', 6],
  ['hepB', 6],
  ['ipv', 6],
  ['mmr', 12],
  ['varicella', 12],
  ['hepA', 12],
  ['hib', 15],
  ['pcv13', 15],
  ['dtap', 15],
  ['hepA', 18],
  ['dtap', 54],
  ['ipv', 54],
  ['mmr', 54],
  ['varicella', 54],
];

export const PROCEDURES: readonly Code[] = [
  {
    system: SYSTEM.cpt,
    code: '93000',
    display: 'Electrocardiogram, routine ECG with at least 12 leads',
  },
  { system: SYSTEM.cpt, code: '36415', display: 'Collection of venous blood by venipuncture' },
  { system: SYSTEM.cpt, code: '94010', display: 'Spirometry' },
  { system: SYSTEM.cpt, code: '96127', display: 'Brief emotional/behavioral assessment' },
  { system: SYSTEM.cpt, code: '92551', display: 'Screening test, pure tone, air only' },
  {
    system: SYSTEM.cpt,
    code: '99173',
    display: 'Screening test of visual acuity, quantitative, bilateral',
  },
  {
    system: SYSTEM.cpt,
    code: '87880',
    display: 'Infectious agent antigen detection; Streptococcus, group A',
  },
  { system: SYSTEM.cpt, code: '81002', display: 'Urinalysis, non-automated, without microscopy' },
  { system: SYSTEM.cpt, code: '17110', display: 'Destruction of benign lesions; up to 14 lesions' },
];

export const DOCUMENT_TYPES = {
  progressNote: loinc('11506-3', 'Progress note'),
  historyAndPhysical: loinc('34117-2', 'History and physical note'),
  consultNote: loinc('11488-4', 'Consult note'),
  summary: loinc('34133-9', 'Summary of episode note'),
} as const;

export const ENCOUNTER_TYPES = {
  established: {
    system: SYSTEM.cpt,
    code: '99213',
    display: 'Office or other outpatient visit, established patient, low complexity',
  },
  establishedModerate: {
    system: SYSTEM.cpt,
    code: '99214',
    display: 'Office or other outpatient visit, established patient, moderate complexity',
  },
  preventiveAdult: {
    system: SYSTEM.cpt,
    code: '99396',
    display: 'Periodic comprehensive preventive medicine, established patient, 40-64 years',
  },
  preventiveChild: {
    system: SYSTEM.cpt,
    code: '99393',
    display: 'Periodic comprehensive preventive medicine, established patient, 5-11 years',
  },
  preventiveInfant: {
    system: SYSTEM.cpt,
    code: '99391',
    display: 'Periodic comprehensive preventive medicine, established patient, infant',
  },
} as const satisfies Record<string, Code>;

export const DEVICES = {
  kneeProsthesis: snomed('304120007', 'Total knee replacement prosthesis'),
  tympanostomyTube: snomed('25062003', 'Tympanostomy tube'),
  iud: snomed('468336003', 'Copper intrauterine device'),
  coronaryStent: snomed('705643001', 'Coronary artery stent'),
} as const satisfies Record<string, Code>;
export type DeviceKind = keyof typeof DEVICES;
