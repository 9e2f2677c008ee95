import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MIGRATING_FLAG, MIGRATING_VARIABLE, decideSynth } from '../src/migration';
import { buildApp } from './app';

/**
 * Synthesizes the example app into dist/. It synthesizes into a fresh directory first and
 * replaces dist/ only on success, so a validation error leaves the last good manifests and
 * no stale file survives a removed chart. A StatefulSet change Kubernetes would refuse also
 * leaves dist/ as it was, unless `--migrating` (or JETSTREAM_CDK8S_MIGRATING=1) is given.
 */
function main(): void {
  const target = path.resolve(__dirname, '..', '..', 'dist');
  const migrating = process.argv.includes(MIGRATING_FLAG) || process.env[MIGRATING_VARIABLE] === '1';
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-cdk8s-synth-'));
  try {
    buildApp(staging).synth();
    const decision = decideSynth(readYamlFiles(target), readYamlFiles(staging), migrating);
    for (const line of decision.messages) console.error(line);
    if (!decision.write) {
      process.exitCode = 1;
      return;
    }
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(target);
    for (const file of fs.readdirSync(staging)) fs.copyFileSync(path.join(staging, file), path.join(target, file));
    for (const file of fs.readdirSync(target).sort()) console.log(`dist/${file}`);
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 1;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** The YAML files of a directory by name; none when it does not exist yet (the first synth). */
function readYamlFiles(dir: string): Map<string, string> {
  if (!fs.existsSync(dir)) return new Map();
  return new Map(fs.readdirSync(dir).filter((file) => file.endsWith('.yaml'))
    .map((file) => [file, fs.readFileSync(path.join(dir, file), 'utf8')]));
}

main();
