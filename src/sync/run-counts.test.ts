// The counts a run saves while it goes: whenever a page is committed, the progress stored with
// the run holds the inserts of every page committed so far, however the pages of types and
// reads by reference running side by side interleave. A process killed at any point resumes
// from that progress, so its final totals equal what it stored.
import { expect, it } from 'vitest';
import type { PageWrite } from '../store/port.ts';
import { fakeFhirPerTest, PATIENT } from './fake-fhir.test-helper.ts';
import { totalsOf } from './run-state.ts';

const each = fakeFhirPerTest();

it('the progress saved with each page counts every insert committed before it', async () => {
  // Six Observations, each naming a Practitioner of its own: six reads by reference, in flight
  // two at a time, next to the searches of the other types.
  for (let i = 0; i < 6; i++) {
    each.fake.put({
      resourceType: 'Observation',
      id: `obs-${i}`,
      status: 'final',
      subject: { reference: `Patient/${PATIENT}` },
      performer: [{ reference: `Practitioner/pr-${i}` }],
    });
    each.fake.put({
      resourceType: 'Condition',
      id: `cond-${i}`,
      subject: { reference: `Patient/${PATIENT}` },
    });
    each.fake.readable.set(`Practitioner/pr-${i}`, { resourceType: 'Practitioner', id: `pr-${i}` });
  }
  const u = await each.engine([
    'patient/Patient.read',
    'patient/Observation.read',
    'patient/Condition.read',
    'patient/Practitioner.read',
  ]);
  const runId = 'sync_counts';
  const behind: string[] = [];
  const check = async (after: string) => {
    const run = await u.store.sync.getRun(runId);
    const saved = totalsOf(run?.progress ?? {}).inserted;
    const stored = Object.values(await u.store.resources.countByType(u.connectionId)).reduce(
      (a, b) => a + b,
      0,
    );
    if (saved !== stored) behind.push(`after ${after}: ${saved} counted, ${stored} stored`);
  };
  // A store whose commit answers a little later (as a database over the network does): the
  // other tasks of the run go on meanwhile.
  const resources = u.store.resources;
  const savePage = resources.savePage.bind(resources);
  resources.savePage = async (page: PageWrite) => {
    const result = await savePage(page);
    await check(page.resources.map((r) => `${r.type}/${r.id}`).join(' '));
    await new Promise((resolve) => setTimeout(resolve, 5));
    return result;
  };
  const updateRun = u.store.sync.updateRun.bind(u.store.sync);
  u.store.sync.updateRun = async (id, patch) => {
    await updateRun(id, patch);
    if (patch.progress && !patch.finishedAt) await check('a type ended');
  };

  const result = await u.engine.run(u.connectionId, { runId });
  expect(result.totals.inserted).toBe(19);
  expect(behind).toEqual([]);
});
