// Copies the programs portpilot runs inside containers (src/**/*.{py,pl,sh,bash}), and the native
// UDP relay's C source the forwarder builds (src/**/*.{c,h}), to the same place under dist/, where the
// compiled modules that load them look: tsc copies only TypeScript.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE = join(ROOT, 'src');
const TARGET = join(ROOT, 'dist');
const PROGRAM_EXTENSIONS = new Set(['.py', '.pl', '.sh', '.bash', '.c', '.h']);

let copied = 0;
for (const entry of readdirSync(SOURCE, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !PROGRAM_EXTENSIONS.has(extname(entry.name))) continue;
  const from = join(entry.parentPath, entry.name);
  const to = join(TARGET, relative(SOURCE, from));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  copied++;
}
if (copied === 0) {
  console.error(`copy-programs: no programs found under ${SOURCE}`);
  process.exit(1);
}
