// The bounded fault campaign (the long one is `npm run chaos`): at least 100 faults and 5
// SIGKILLs at random points of connect, refresh, proxy and sync, judged against the simulator's
// ground truth. The seed is printed; CHAOS_SEED replays a run's choices.
import { expect, it } from 'vitest';
import { formatReport, runCampaign } from './helpers/chaos.ts';

const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));

it('under 100 faults and 5 kills no connection, resource or sync outcome is lost', async () => {
  console.log(`chaos seed ${seed} (CHAOS_SEED=${seed} replays it)`);
  const report = await runCampaign({
    seed,
    faults: 100,
    kills: 5,
    patients: 6,
    resourcesPerPatient: 120,
    heldCalls: false,
    log: process.env.CHAOS_LOG ? (line) => console.log(line) : undefined,
  });
  console.log(formatReport(report));
  expect(report.faults.injected).toBeGreaterThanOrEqual(100);
  expect(report.kills.total).toBeGreaterThanOrEqual(5);
  expect(report.connections.lost, `seed ${seed}`).toEqual([]);
  expect(report.resources.lost, `seed ${seed}`).toEqual([]);
  expect(report.resources.doubled, `seed ${seed}`).toEqual([]);
  expect(report.syncs.findings, `seed ${seed}`).toEqual([]);
}, 170_000);
