// Removes the run's temp directory scripts/jest-temp-dir-setup.js made, with whatever the tests left in it.
const fs = require('fs');

module.exports = async function removeRunTempDir() {
  const dir = process.env.JETSTREAM_CDK8S_TEST_TMPDIR;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
};
