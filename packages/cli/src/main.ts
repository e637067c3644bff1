#!/usr/bin/env node
import { runCli } from './program.js'

const code = await runCli(process.argv)
// A request to an engine that stopped answering may still be open: it must not hold the
// exit. Exit once what was written to stdout and stderr is out.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
