// Prints the apply program bundle's size against the 1 MiB a ConfigMap can hold.
const fs = require('fs');
const path = require('path');
const file = path.join(__dirname, '..', 'lib', 'bundle', 'jetstream-apply.js');
const bytes = fs.statSync(file).size;
const limit = 1024 * 1024;
console.log(`apply program bundle: ${(bytes / 1024).toFixed(1)} KiB (${((bytes / limit) * 100).toFixed(1)}% of a ConfigMap's 1 MiB)`);
if (bytes > limit * 0.9) {
  console.error('the bundle no longer fits a ConfigMap with room to spare');
  process.exit(1);
}
