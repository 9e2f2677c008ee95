import * as path from 'path';
import { ApiObject, App, Chart, Names } from 'cdk8s';
import { MIGRATING_FLAG, MIGRATING_VARIABLE, guardStatefulSet } from './migration';
import { PreviousManifests, readPreviousManifests } from './previous-manifests';

/**
 * Per app: the previous manifests, read once, and the warnings printed (cdk8s validates once for
 * the app and again for each chart it renders).
 */
const perApp = new WeakMap<object, { previous: PreviousManifests; printed: Set<string> }>();

/**
 * The migration guard as a store's validation runs it, under `cdk8s synth` or any `app.synth()`:
 * the store's new StatefulSet against the previous synthesis (see {@link readPreviousManifests}).
 * Errors are returned for cdk8s to report with every other; warnings go to stderr once.
 */
export function migrationGuardErrors(statefulSet: ApiObject): string[] {
  const app = statefulSet.node.root as Partial<App>;
  // A construct tree without an App (a bare Chart in a test) writes no files: nothing to guard.
  if (typeof app.outdir !== 'string') return [];
  let state = perApp.get(app);
  if (!state) {
    state = { previous: readPreviousManifests(app.outdir), printed: new Set() };
    perApp.set(app, state);
  }
  const { previous, printed } = state;
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
