#!/usr/bin/env node
/** The `express-otp-kit` executable (package.json `bin`); see run.ts for the commands. */
import { runCli } from './run.js';

runCli(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`express-otp-kit: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
