// The long fault campaign (`npm run chaos [-- --seed N --faults N --kills N --out file.md]`):
// the bounded test's campaign at scale, at least 1,000 faults and 20 SIGKILLs by default, with
// calls held until the client gives up. Prints the report (and writes it with --out); exits 1
// when a goal is missed: a connection lost, a resource lost or doubled, a sync without its end.
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { formatReport, runCampaign } from '../test/e2e/helpers/chaos.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    faults: { type: 'string', default: '1000' },
    kills: { type: 'string', default: '20' },
    patients: { type: 'string', default: '12' },
    resources: { type: 'string', default: '200' },
    out: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const seed = Number(values.seed ?? Math.floor(Math.random() * 2 ** 31));
console.log(`chaos: seed ${seed} (--seed ${seed} replays its choices)`);
const report = await runCampaign({
  seed,
  faults: Number(values.faults),
  kills: Number(values.kills),
  patients: Number(values.patients),
  resourcesPerPatient: Number(values.resources),
  heldCalls: true,
  ...(values.quiet ? {} : { log: (line: string) => console.log(line) }),
});
const text = `${formatReport(report)}\n\n(${availableParallelism()} cores, node ${process.version})\n`;
console.log(`\n${text}`);
if (values.out) writeFileSync(values.out, text);
const met =
  report.connections.lost.length === 0 &&
  report.resources.lost.length === 0 &&
  report.resources.doubled.length === 0 &&
  report.syncs.findings.length === 0;
console.log(met ? 'every goal met' : 'GOALS MISSED: see above');
process.exit(met ? 0 : 1);
