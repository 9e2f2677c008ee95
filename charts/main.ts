import { buildApp } from './app';

/**
 * The example app, as `cdk8s synth` (`npm run synth`) runs it: cdk8s validates every store, the
 * migration guard included (see README, "Changing a running store"), before it writes dist/.
 */
try {
  buildApp().synth();
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
}
