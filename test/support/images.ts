import { readFileSync } from 'node:fs';

/** The file both scripts/test-env.sh (which builds the images) and these tests read the tags from. */
export const IMAGES_ENV_FILE = new URL('../../scripts/test-images.env', import.meta.url);

/** A relay-capable program an image may offer; each test image has a fixed subset of these. */
export type RelayProgram = 'socat' | 'nc' | 'bash' | 'python3' | 'perl';

/** Every program the environment checks for, in the order the images are probed. */
export const RELAY_PROGRAMS: readonly RelayProgram[] = ['socat', 'nc', 'bash', 'python3', 'perl'];

/** One of the integration tests' images, as built by scripts/test-env.sh. */
export interface TestImage {
  readonly tag: string;
  /** The relay-capable programs on its PATH; every other RelayProgram is absent. */
  readonly programs: readonly RelayProgram[];
  /** The relay a forwarder should pick in this image, or null where none can work. */
  readonly relay: RelayProgram | null;
}

/** The short names of the test images. */
export type TestImageName = 'debian' | 'busyboxNc' | 'bashOnly' | 'python' | 'none';

function parseEnvFile(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z0-9_]+)=(?:"([^"]*)"|(\S*))$/.exec(line);
    if (!match) throw new Error(`${IMAGES_ENV_FILE.pathname}: expected KEY=VALUE, found: ${line}`);
    values.set(match[1], match[2] ?? match[3] ?? '');
  }
  return values;
}

const ENV = parseEnvFile(readFileSync(IMAGES_ENV_FILE, 'utf8'));

function envValue(key: string): string {
  const value = ENV.get(key);
  if (value === undefined) throw new Error(`${IMAGES_ENV_FILE.pathname} has no ${key}`);
  return value;
}

function asProgram(word: string): RelayProgram {
  const program = RELAY_PROGRAMS.find((candidate) => candidate === word);
  if (!program) throw new Error(`${IMAGES_ENV_FILE.pathname}: unknown program ${word}`);
  return program;
}

function readImage(suffix: string): TestImage {
  const relay = envValue(`PORTPILOT_TEST_RELAY_${suffix}`);
  return {
    tag: envValue(`PORTPILOT_TEST_IMAGE_${suffix}`),
    programs: envValue(`PORTPILOT_TEST_PROGRAMS_${suffix}`).split(/\s+/).filter(Boolean).map(asProgram),
    relay: relay === '' ? null : asProgram(relay),
  };
}

/** The test images by short name: tags, the programs each has, and the relay each calls for. */
export const TEST_IMAGES: Readonly<Record<TestImageName, TestImage>> = {
  debian: readImage('DEBIAN'),
  busyboxNc: readImage('BUSYBOX_NC'),
  bashOnly: readImage('BASH_ONLY'),
  python: readImage('PYTHON'),
  none: readImage('NONE'),
};

/** Debian minbase with socat, nc (OpenBSD), bash, python3, perl, procps and iproute2; relay: socat. */
export const DEBIAN_IMAGE = TEST_IMAGES.debian.tag;
/** Static busybox with its nc applet and no socat, bash, python3 or perl; relay: nc. */
export const BUSYBOX_NC_IMAGE = TEST_IMAGES.busyboxNc.tag;
/**
 * The Debian image without socat or any nc; bash, python3 and perl stay; relay: python3 (which, unlike
 * bash, passes a client's half-close on). The bash relay is run in it by choice (relay tests), or
 * after its python3 and perl are taken away (forward-relays).
 */
export const BASH_ONLY_IMAGE = TEST_IMAGES.bashOnly.tag;
/** The Debian image without socat, nc or bash (/bin/sh is dash); relay: python3. */
export const PYTHON_IMAGE = TEST_IMAGES.python.tag;
/** Static busybox without even the nc applet: no relay program at all (the failure path). */
export const NONE_IMAGE = TEST_IMAGES.none.tag;

/** The file every test image has, which the `http` test servers serve. */
export const HELLO_FILE_PATH = envValue('PORTPILOT_TEST_HELLO_PATH');
/** The exact content of HELLO_FILE_PATH (one line, newline-terminated). */
export const HELLO_FILE_TEXT = `${envValue('PORTPILOT_TEST_HELLO_TEXT')}\n`;

/** The user the rootless Podman tests run as, made by scripts/test-env.sh (see rootless.ts). */
export const ROOTLESS_USER = envValue('PORTPILOT_TEST_ROOTLESS_USER');
