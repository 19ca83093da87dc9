// Builds the optional C++ addon (native/) with node-gyp against the system OpenBLAS.
// A failed build is a warning, not an error: saekit then runs on the reference backend.
// Set SAEKIT_REQUIRE_NATIVE=1 (CI does) to make a failed build fail the command.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const required = process.env.SAEKIT_REQUIRE_NATIVE === '1';

function fail(msg) {
  process.stderr.write(`saekit: ${msg}\n`);
  if (required) process.exit(1);
  process.stderr.write('saekit: continuing without the native addon (the pure-TypeScript backend is slow).\n' +
    '  To get it: apt-get install -y libopenblas-dev build-essential python3 && npm run build:native\n');
  process.exit(0);
}

if (!existsSync('/usr/include/x86_64-linux-gnu/cblas.h') && !existsSync('/usr/include/cblas.h') &&
    !existsSync('/usr/include/openblas/cblas.h')) {
  fail('cblas.h not found: the system OpenBLAS development package (libopenblas-dev) is not installed.');
}
let gyp;
try {
  gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
} catch {
  fail('node-gyp is not installed (run npm ci first).');
}
// oneDNN (Debian libdnnl-dev) gives the bf16 encoder GEMM (--precision bf16); without it the
// addon still builds and bf16 falls back to f32
const dnnl = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp');
if (!dnnl) process.stderr.write('saekit: oneDNN not found (/usr/include/oneapi/dnnl/dnnl.hpp): building without the bf16 GEMM (apt-get install libdnnl-dev)\n');
// Open MPI (Debian libopenmpi-dev), found by pkg-config, gives --parallel data
const mpi = pkgConfig('ompi-c');
if (!mpi) process.stderr.write('saekit: Open MPI not found (pkg-config ompi-c): building without --parallel (apt-get install libopenmpi-dev openmpi-bin)\n');
const res = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: join(root, 'native'), stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, SAEKIT_DNNL: dnnl ? '1' : '0', SAEKIT_MPI: mpi ? '1' : '0', SAEKIT_MPI_INCLUDE: mpi?.include ?? '', SAEKIT_MPI_LIBS: mpi?.libs ?? '' } });
if (res.status !== 0) fail('building the native addon failed (see the compiler output above).');
const extras = [dnnl ? 'oneDNN bf16' : '', mpi ? 'Open MPI' : ''].filter(Boolean);
process.stdout.write(`saekit: native addon built: native/build/Release/saekit_native.node${extras.length ? ` (with ${extras.join(', ')})` : ''}\n`);

/** Include folders (space-separated, without -I) and link flags of a pkg-config package, or null. */
function pkgConfig(name) {
  const run = (flag) => spawnSync('pkg-config', [flag, name], { encoding: 'utf8' });
  const inc = run('--cflags-only-I'), libs = run('--libs');
  if (inc.status !== 0 || libs.status !== 0) return null;
  return { include: inc.stdout.trim().split(/\s+/).filter(Boolean).map((f) => f.replace(/^-I/, '')).join(' '), libs: libs.stdout.trim() };
}
