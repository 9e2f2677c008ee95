import * as path from 'path';
import { ApiObject, App, Chart, Names } from 'cdk8s';
import { MIGRATING_FLAG, MIGRATING_VARIABLE, guardStatefulSet } from './migration';
import { previousManifestsOf } from './previous-manifests';

/** Per app, the warnings printed (cdk8s validates once for the app and again for each chart it renders). */
const printedPerApp = new WeakMap<object, Set<string>>();

/**
 * The migration guard as a store's validation runs it, under `cdk8s synth` or any `app.synth()`:
 * the store's new StatefulSet against the previous synthesis (see {@link readPreviousManifests}).
 * Errors are returned for cdk8s to report with every other; warnings go to stderr once.
 */
export function migrationGuardErrors(statefulSet: ApiObject): string[] {
  const app = statefulSet.node.root as App;
  const previous = previousManifestsOf(statefulSet);
  // A construct tree without an App (a bare Chart in a test) writes no files: nothing to guard.
  if (previous === undefined) return [];
  let printed = printedPerApp.get(app);
  if (!printed) {
    printed = new Set();
    printedPerApp.set(app, printed);
  }
  const file = path.join(path.relative(process.cwd(), app.outdir) || '.',
    `${Names.toDnsLabel(Chart.of(statefulSet))}${app.outputFileExtension ?? '.k8s.yaml'}`);
  const migrating = process.env[MIGRATING_VARIABLE] === '1' || process.argv.includes(MIGRATING_FLAG);
  const verdict = guardStatefulSet(previous.objects, statefulSet.toJson(), file, migrating);
  for (const warning of [...previous.warnings, ...verdict.warnings]) {
    if (printed.has(warning)) continue;
    printed.add(warning);
    console.error(warning);
  }
  return verdict.errors;
}
