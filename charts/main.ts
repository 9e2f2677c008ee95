import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildApp } from './app';

/**
 * Synthesizes the example app into dist/. It synthesizes into a fresh directory first and
 * replaces dist/ only on success, so a validation error leaves the last good manifests and
 * no stale file survives a removed chart.
 */
function main(): void {
  const target = path.resolve(__dirname, '..', '..', 'dist');
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-cdk8s-synth-'));
  try {
    buildApp(staging).synth();
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    console.error((error as Error).message);
    process.exitCode = 1;
    return;
  }
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(target);
  for (const file of fs.readdirSync(staging)) fs.copyFileSync(path.join(staging, file), path.join(target, file));
  fs.rmSync(staging, { recursive: true, force: true });
  for (const file of fs.readdirSync(target).sort()) console.log(`dist/${file}`);
}

main();
