import { describe, expect, it } from 'vitest';
import type { AcquireOptions, Budget, Grant } from './budget/port.ts';
import { budgetedDiscovery } from './runtime.ts';

describe('budgetedDiscovery', () => {
  it('spends a call of the practice base for each discovery request, and nothing for others', async () => {
    const spent: Array<[string, AcquireOptions]> = [];
    const landed: Grant[] = [];
    const budget = {
      acquire: async (practice: string, o: AcquireOptions) => {
        spent.push([practice, o]);
        return { practice, window: 0, guard: true, cost: 1, priority: o.priority };
      },
      landed: async (grant: Grant) => void landed.push(grant),
    } as unknown as Budget;
    const seen: string[] = [];
    const inner = (async (input: string | URL | Request) => {
      seen.push(String(input));
      return new Response('{}');
    }) as typeof fetch;
    const fetch = budgetedDiscovery(budget, inner);

    await fetch('https://fhir4.healow.com/fhir/r4/JAFJCD/.well-known/smart-configuration');
    await fetch(new URL('https://fhir4.healow.com/fhir/r4/JAFJCD/metadata'));
    await fetch('https://connect4.healow.com/apps/api/v1/fhir/activated_clinical_endpoints');

    expect(spent.map(([base]) => base)).toEqual([
      'https://fhir4.healow.com/fhir/r4/JAFJCD',
      'https://fhir4.healow.com/fhir/r4/JAFJCD',
    ]);
    expect(seen).toHaveLength(3);
    // Each discovery answer is reported, so a guard call answered in its window frees its carry.
    expect(landed.map((g) => g.practice)).toEqual(spent.map(([base]) => base));
  });
});
