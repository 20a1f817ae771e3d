import { readFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { REPO_DIR } from '../paths.js';

/** The machine a run was made on, as the report names it. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  freeMemoryGiB: number;
  kernel: string;
  dockerServer: string;
  dockerClient: string;
  node: string;
  /** 1-minute load average when the run started and when it ended: the machine may be shared. */
  loadAtStart: number;
  loadAtEnd: number | null;
}

/** Runs scripts/test-env.sh: a Docker engine that answers, and the local test images (nothing pulled). */
export async function prepareEngine(): Promise<void> {
  await execa('bash', [join(REPO_DIR, 'scripts/test-env.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** The Debian test image's tag (python3, socat, nc, bash, perl), from scripts/test-images.env. */
export async function debianImage(): Promise<string> {
  const env = await readFile(join(REPO_DIR, 'scripts/test-images.env'), 'utf8');
  const tag = /^PORTPILOT_TEST_IMAGE_DEBIAN=(\S+)$/m.exec(env)?.[1];
  if (!tag) throw new Error('scripts/test-images.env names no PORTPILOT_TEST_IMAGE_DEBIAN');
  return tag;
}

/** The 1-minute load average, to two decimals. */
export function loadAverage(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

/** nproc, memory, kernel and the Docker versions of this machine. */
export async function machineInfo(): Promise<MachineInfo> {
  const versions = await execa('docker', ['version', '--format', '{{.Server.Version}} {{.Client.Version}}']);
  const [dockerServer = '?', dockerClient = '?'] = versions.stdout.trim().split(' ');
  const nproc = Number((await execa('nproc')).stdout.trim());
  return {
    nproc,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    dockerServer,
    dockerClient,
    node: process.version,
    loadAtStart: loadAverage(),
    loadAtEnd: null,
  };
}
