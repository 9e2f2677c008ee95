/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Suites that start nats-server are I/O bound; two workers match CI's two cores.
  maxWorkers: 2,
  testTimeout: 30000,
  // A temp directory for the run, removed when it ends, whatever the tests left in it.
  globalSetup: '<rootDir>/scripts/jest-temp-dir-setup.js',
  globalTeardown: '<rootDir>/scripts/jest-temp-dir-teardown.js',
  reporters: ['default', '<rootDir>/scripts/jest-summary-reporter.js'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
};
