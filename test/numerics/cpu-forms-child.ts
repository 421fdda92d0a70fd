// Child of cpu-forms.test.ts: runs the cases with the seed given as argv[2] and prints
// {"isa": the 8-bit loop form in use, "digests": {...}} on stdout.
import { constants } from '../../native/lib';
import { runFormCases } from './cpu-forms-cases';

runFormCases(Number(process.argv[2])).then(
  (digests) => {
    process.stdout.write(JSON.stringify({ isa: constants.cpuIsa.default, digests }));
  },
  (e: unknown) => {
    process.stderr.write(String(e instanceof Error ? e.stack : e));
    process.exit(1);
  },
);
