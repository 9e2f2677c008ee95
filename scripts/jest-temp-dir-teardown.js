// Removes the run's temp directory scripts/jest-temp-dir-setup.js made, with whatever the tests left
// in it, and puts TMPDIR back as it was.
const fs = require('fs');

module.exports = async function removeRunTempDir() {
  const dir = process.env.JETSTREAM_CDK8S_TEST_TMPDIR;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  const before = process.env.JETSTREAM_CDK8S_TEST_TMPDIR_BEFORE;
  if (before) process.env.TMPDIR = before;
  else delete process.env.TMPDIR;
  delete process.env.JETSTREAM_CDK8S_TEST_TMPDIR;
  delete process.env.JETSTREAM_CDK8S_TEST_TMPDIR_BEFORE;
};
