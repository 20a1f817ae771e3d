import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { agentArgv } from '../../src/forwarding/relay/agent/agent-protocol.js';
import { muxAgentArgv } from '../../src/forwarding/relay/mux/mux-agent-argv.js';
import { joinProgramParts, MUX_AGENT_PARTS } from '../../src/forwarding/container-programs/program-text.js';
import { relayArgv } from '../../src/forwarding/relay/exec/exec-relay.js';
import { probeContainerPrograms } from '../../src/forwarding/relay/exec/program-probe.js';
import { createSocketOwnerFinder } from '../../src/forwarding/detect/socket-owners.js';
import type { Docker } from '../../src/runtime/docker.js';

const PROGRAMS_DIR = fileURLToPath(new URL('../../src/forwarding/container-programs/', import.meta.url));
const SERVERS_DIR = fileURLToPath(new URL('../support/servers/', import.meta.url));
const SCRATCH = mkdtempSync(join(tmpdir(), 'portpilot-programs-'));
afterAll(() => rmSync(SCRATCH, { recursive: true, force: true }));

// Each checker parses a program without running it.
const CHECKERS: Record<string, (file: string) => [string, string[]]> = {
  '.py': (file) => ['python3', ['-m', 'py_compile', file]],
  '.pl': (file) => ['perl', ['-c', file]],
  '.sh': (file) => ['sh', ['-n', file]],
  '.bash': (file) => ['bash', ['-n', file]],
};

function checkSyntax(file: string): void {
  const checker = CHECKERS[extname(file)];
  if (!checker) throw new Error(`no syntax checker for ${file}`);
  const [command, args] = checker(file);
  // The byte-code cache goes to the scratch folder, not beside the sources.
  const env = { ...process.env, PYTHONPYCACHEPREFIX: join(SCRATCH, 'pycache') };
  const result = spawnSync(command, args, { encoding: 'utf8', env });
  expect(result.error, `${command} ${args.join(' ')}`).toBeUndefined();
  expect(result.status, `${command} ${args.join(' ')}: ${result.stderr}`).toBe(0);
}

function programNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => extname(name) in CHECKERS)
    .sort();
}

/** The scripts the probes send, as a docker stand-in sees them. */
async function probeScripts(): Promise<string[]> {
  const scripts: string[] = [];
  const docker = {
    exec: async (_id: string, argv: readonly string[]) => {
      scripts.push(argv[2] ?? '');
      return { exitCode: 0, stdout: 'has socat\n', stderr: '' };
    },
  } as unknown as Docker;
  await probeContainerPrograms(docker, 'c'.repeat(64), 'probe');
  await (await createSocketOwnerFinder(docker, 'c'.repeat(64), 0, 'exec')).find(new Set([1]));
  return scripts;
}

describe('the programs run inside containers', () => {
  it('are all there, one file each', () => {
    expect(programNames(PROGRAMS_DIR)).toEqual([
      'exec-relay.bash',
      'exec-relay.pl',
      'exec-relay.py',
      'probe-programs.sh',
      'probe-socket-owners.sh',
      'relay-agent.pl',
      'relay-agent.py',
    ]);
  });

  it.each(programNames(PROGRAMS_DIR))('%s parses as it stands', (name) => {
    checkSyntax(join(PROGRAMS_DIR, name));
  });

  it('keep the mux agent as parts, one a concern, each under 300 lines, for python3 and perl alike', () => {
    const dir = join(PROGRAMS_DIR, 'mux-agent');
    const expected = MUX_AGENT_PARTS.flatMap((part) => [`${part}.pl`, `${part}.py`]).sort();
    expect(programNames(dir)).toEqual(expected);
    for (const name of expected) {
      expect(readFileSync(join(dir, name), 'utf8').split('\n').length, name).toBeLessThan(300);
    }
  });

  it.each(['.py', '.pl'] as const)('mux-agent%s parses as it stands, its parts joined', (ext) => {
    const file = join(SCRATCH, `mux-agent-parts${ext}`);
    const read = (path: string) => readFileSync(join(PROGRAMS_DIR, path), 'utf8');
    writeFileSync(file, joinProgramParts('mux-agent', MUX_AGENT_PARTS, ext, read));
    checkSyntax(file);
  });

  it('parse as they are sent, constants filled in', async () => {
    const [probe = '', owners = ''] = await probeScripts();
    const sent: [string, string][] = [
      ['relay-agent.py', agentArgv('python3', '172.17.0.2', null)[4] ?? ''],
      ['relay-agent.pl', agentArgv('perl', '172.17.0.2', null)[2] ?? ''],
      ['mux-agent.py', muxAgentArgv('python3')[4] ?? ''],
      ['mux-agent.pl', muxAgentArgv('perl')[2] ?? ''],
      ['exec-relay.py', relayArgv({ kind: 'python3' }, '127.0.0.1', 80)[4] ?? ''],
      ['exec-relay.pl', relayArgv({ kind: 'perl' }, '127.0.0.1', 80)[2] ?? ''],
      ['exec-relay.bash', relayArgv({ kind: 'bash' }, '127.0.0.1', 80)[2] ?? ''],
      ['probe-programs.sh', probe],
      ['probe-socket-owners.sh', owners],
    ];
    for (const [name, text] of sent) {
      expect(text, name).not.toMatch(/'@@[A-Z0-9_]+@@'|\$\{[A-Z_]+\}/);
      const file = join(SCRATCH, name);
      writeFileSync(file, text);
      checkSyntax(file);
    }
  });
});

describe('the test servers', () => {
  it.each(programNames(SERVERS_DIR))('%s parses', (name) => {
    checkSyntax(join(SERVERS_DIR, name));
  });
});
