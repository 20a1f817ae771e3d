import { describe, expect, it } from 'vitest';
import {
  cgroupNamesContainer,
  conmonNamesContainer,
  parseBootTime,
  parseEngineTime,
  proveContainerProcess,
  START_EARLY_TOLERANCE_MS,
  START_LATE_TOLERANCE_MS,
} from '../../../../src/forwarding/detect/container-process.js';

const ID = '85e702be3fbd6d9ea95d2e8042f1c89de3eb6b3797e1cc5853302bc358a0107a';
const OTHER_ID = 'db348b665add33153c57ae3f92821eb428b20d9b561e1298313a1e5cb679fda9';

// Read on a cgroup v1 host: a Docker container's init, and the test runner itself (a host process).
const DOCKER_CGROUP = [`9:name=systemd:/docker/${ID}`, `8:pids:/docker/${ID}`, `0::/docker/${ID}`, ''].join(
  '\n',
);
const HOST_CGROUP = ['9:name=systemd:/', '8:pids:/', '4:memory:/process_api/3d1acbfe', '0::/', ''].join('\n');
// Booted at 01:54:06 UTC; the init started 291.78 s later; the engine recorded 0.75 s after that.
const BOOT_TIME_S = 1796522046;
const START_TICKS = 29178;
const STARTED_AT = '2026-12-06T01:58:58.530218692Z';

describe('cgroupNamesContainer', () => {
  it("finds the id in Docker's, systemd's and Podman's cgroup layouts", () => {
    expect(cgroupNamesContainer(DOCKER_CGROUP, ID)).toBe(true);
    expect(cgroupNamesContainer(`0::/system.slice/docker-${ID}.scope\n`, ID)).toBe(true);
    expect(cgroupNamesContainer(`0::/machine.slice/libpod-${ID}.scope/container\n`, ID)).toBe(true);
    expect(cgroupNamesContainer(`8:pids:/libpod_parent/libpod-${ID}\n`, ID)).toBe(true);
  });

  it('rejects a host process, another container, an id that is a prefix, and ids that are not full', () => {
    expect(cgroupNamesContainer(HOST_CGROUP, ID)).toBe(false);
    expect(cgroupNamesContainer(`0::/docker/${OTHER_ID}\n`, ID)).toBe(false);
    expect(cgroupNamesContainer(`0::/docker/${ID}ab\n`, ID)).toBe(false);
    expect(cgroupNamesContainer(`0::/docker/${ID}\n`, ID.slice(0, 12))).toBe(false);
    expect(cgroupNamesContainer('0::/docker/\n', '')).toBe(false);
    expect(cgroupNamesContainer(`garbage ${ID}\n`, ID)).toBe(false);
  });
});

describe('parseBootTime and parseEngineTime', () => {
  it('reads btime from /proc/stat', () => {
    expect(parseBootTime(`cpu  1 2 3\nintr 5 6\nctxt 99\nbtime ${BOOT_TIME_S}\nprocesses 7\n`)).toBe(
      BOOT_TIME_S,
    );
    expect(parseBootTime('cpu 1 2 3\n')).toBeNull();
  });

  it("reads Docker's and Podman's RFC 3339 times, nanoseconds and offsets included", () => {
    expect(parseEngineTime(STARTED_AT)).toBe(Date.parse('2026-12-06T01:58:58.530Z'));
    expect(parseEngineTime('2026-12-06T02:58:58.5+01:00')).toBe(Date.parse('2026-12-06T01:58:58.500Z'));
    expect(parseEngineTime('2026-12-06T01:58:58Z')).toBe(Date.parse('2026-12-06T01:58:58.000Z'));
    expect(parseEngineTime('2026-12-06 01:58:58.530218692 +0000 UTC')).toBeNull();
    expect(parseEngineTime('')).toBeNull();
  });
});

describe('proveContainerProcess', () => {
  const evidence = { cgroup: DOCKER_CGROUP, startTicks: START_TICKS, bootTimeSeconds: BOOT_TIME_S };
  const container = { id: ID, startedAt: STARTED_AT };

  it("proves the container's init: its cgroup names the container and it started then", () => {
    expect(proveContainerProcess(evidence, container)).toEqual({ proven: true, startTicks: START_TICKS });
  });

  it('refuses a local process with the same pid in the host cgroup, however close its start time', () => {
    const proof = proveContainerProcess({ ...evidence, cgroup: HOST_CGROUP }, container);
    expect(proof).toMatchObject({ proven: false, reason: expect.stringMatching(/cgroup/) as unknown });
  });

  it('refuses a process of that cgroup that started at another time (a pid reused in the container)', () => {
    const ticksPerMs = 0.1;
    const tooEarly = START_TICKS - (START_EARLY_TOLERANCE_MS + 1_000) * ticksPerMs;
    const tooLate = START_TICKS + (START_LATE_TOLERANCE_MS + 1_000) * ticksPerMs;
    expect(proveContainerProcess({ ...evidence, startTicks: tooEarly }, container).proven).toBe(false);
    expect(proveContainerProcess({ ...evidence, startTicks: tooLate }, container).proven).toBe(false);
    // Within the tolerance either side: the runtime's create-to-start delay, btime's whole seconds.
    const early = START_TICKS - (START_EARLY_TOLERANCE_MS - 2_000) * ticksPerMs;
    const late = START_TICKS + (START_LATE_TOLERANCE_MS - 500) * ticksPerMs;
    expect(proveContainerProcess({ ...evidence, startTicks: early }, container).proven).toBe(true);
    expect(proveContainerProcess({ ...evidence, startTicks: late }, container).proven).toBe(true);
  });

  it('refuses when the engine gave no usable time', () => {
    expect(proveContainerProcess(evidence, { ...container, startedAt: '0001-01-01T00:00:00Z' }).proven).toBe(
      false,
    );
    expect(proveContainerProcess(evidence, { ...container, startedAt: 'yesterday' }).proven).toBe(false);
  });
});

// A rootless Podman container's init on cgroup v1 (read here): no cgroup of its own, its parent is
// the conmon its user's podman started.
const CONMON_ARGV = [
  '/usr/bin/conmon',
  '--api-version',
  '1',
  '-c',
  ID,
  '-u',
  ID,
  '-r',
  '/usr/bin/runc',
  '',
].join('\0');
const ROOTLESS_UID = 1001;

describe('conmonNamesContainer', () => {
  it("finds the container's id after conmon's -c or --cid", () => {
    expect(conmonNamesContainer(CONMON_ARGV, ID)).toBe(true);
    expect(conmonNamesContainer(['conmon', '--cid', ID, ''].join('\0'), ID)).toBe(true);
    expect(conmonNamesContainer(['conmon', `--cid=${ID}`, ''].join('\0'), ID)).toBe(true);
  });

  it('rejects another program, another container, an id in another flag, and short ids', () => {
    expect(conmonNamesContainer(['/usr/bin/sleep', '-c', ID, ''].join('\0'), ID)).toBe(false);
    expect(conmonNamesContainer(CONMON_ARGV, OTHER_ID)).toBe(false);
    expect(conmonNamesContainer(['conmon', '-u', ID, ''].join('\0'), ID)).toBe(false);
    expect(conmonNamesContainer(['conmon', '-c', ID.slice(0, 12), ''].join('\0'), ID.slice(0, 12))).toBe(
      false,
    );
    expect(conmonNamesContainer('', ID)).toBe(false);
  });
});

describe('proveContainerProcess for a rootless container (no cgroup of its own)', () => {
  const evidence = {
    cgroup: HOST_CGROUP,
    startTicks: START_TICKS,
    bootTimeSeconds: BOOT_TIME_S,
    parent: { cmdline: CONMON_ARGV, uid: ROOTLESS_UID },
    trustedUids: [0, ROOTLESS_UID],
  };
  const container = { id: ID, startedAt: STARTED_AT };

  it('proves a child of our own conmon for the container that started then', () => {
    expect(proveContainerProcess(evidence, container)).toEqual({ proven: true, startTicks: START_TICKS });
    expect(
      proveContainerProcess({ ...evidence, parent: { cmdline: CONMON_ARGV, uid: 0 } }, container).proven,
    ).toBe(true);
  });

  it("refuses another user's conmon, another container's, and a wrong start time", () => {
    expect(
      proveContainerProcess({ ...evidence, parent: { cmdline: CONMON_ARGV, uid: 1002 } }, container),
    ).toMatchObject({
      proven: false,
      reason: expect.stringMatching(/conmon/) as unknown,
    });
    expect(proveContainerProcess(evidence, { ...container, id: OTHER_ID }).proven).toBe(false);
    expect(proveContainerProcess({ ...evidence, startTicks: START_TICKS + 10_000 }, container).proven).toBe(
      false,
    );
    const { parent: _parent, ...withoutParent } = evidence;
    expect(proveContainerProcess(withoutParent, container).proven).toBe(false);
  });
});
