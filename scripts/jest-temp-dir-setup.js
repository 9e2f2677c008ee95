// Gives the test run a temp directory of its own: TMPDIR points the workers' os.tmpdir() at it,
// so what tests leave there (cdk8s's Testing.app() makes an output directory that nothing removes)
// goes with it when the run ends (scripts/jest-temp-dir-teardown.js, which puts TMPDIR back for the
// next run of a watch).
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = async function createRunTempDir() {
  process.env.JETSTREAM_CDK8S_TEST_TMPDIR_BEFORE = process.env.TMPDIR ?? '';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-cdk8s-test-'));
  process.env.JETSTREAM_CDK8S_TEST_TMPDIR = dir;
  process.env.TMPDIR = dir;
};
