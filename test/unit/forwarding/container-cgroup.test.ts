import { describe, expect, it } from 'vitest';
import { cgroupProcsCandidates } from '../../../src/forwarding/container-cgroup.js';

const ID = '8f2ee7c2410f30ecc5f9312caa0d56871be4af40a35fa30f42864ab1771663c9';

describe('cgroupProcsCandidates', () => {
  it('offers the unified hierarchy first, at the root and under unified/, then v1 pids and cpu', () => {
    const text = [
      `9:name=systemd:/docker/${ID}`,
      `8:pids:/docker/${ID}`,
      `4:memory:/docker/${ID}`,
      `1:cpu:/docker/${ID}`,
      `0::/docker/${ID}`,
      '',
    ].join('\n');
    expect(cgroupProcsCandidates(text, '/cg')).toEqual([
      `/cg/docker/${ID}/cgroup.procs`,
      `/cg/unified/docker/${ID}/cgroup.procs`,
      `/cg/pids/docker/${ID}/cgroup.procs`,
      `/cg/cpu/docker/${ID}/cgroup.procs`,
    ]);
  });

  it('reads a pure v2 host (systemd scope) and v1 controllers listed together', () => {
    expect(cgroupProcsCandidates(`0::/system.slice/docker-${ID}.scope\n`, '/cg')).toEqual([
      `/cg/system.slice/docker-${ID}.scope/cgroup.procs`,
      `/cg/unified/system.slice/docker-${ID}.scope/cgroup.procs`,
    ]);
    expect(cgroupProcsCandidates('3:cpu,cpuacct:/docker/x', '/cg')).toEqual([
      '/cg/cpu/docker/x/cgroup.procs',
    ]);
  });

  it('ignores garbage, paths that climb out, and controllers it cannot use', () => {
    expect(cgroupProcsCandidates('nonsense\n5:devices:/docker/x\n0::/../../etc\n\u001b[2J', '/cg')).toEqual(
      [],
    );
  });
});
