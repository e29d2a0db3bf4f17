#!/usr/bin/env -S npx tsx
import { runCli } from './hub-cli.js';

process.exitCode = await runCli(process.argv);
