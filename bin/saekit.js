#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('saekit: not built yet. Run `npm run build` in the saekit folder first.\n');
  process.exit(1);
}
await import(main.href);
