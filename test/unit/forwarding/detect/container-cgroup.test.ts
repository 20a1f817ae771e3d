import { describe, expect, it } from 'vitest';
import { cgroupProcsCandidates } from '../../../../src/forwarding/detect/container-cgroup.js';

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
    expect(cgroupProcsCandidates(text, ID, '/cg')).toEqual([
      `/cg/docker/${ID}/cgroup.procs`,
      `/cg/unified/docker/${ID}/cgroup.procs`,
      `/cg/pids/docker/${ID}/cgroup.procs`,
      `/cg/cpu/docker/${ID}/cgroup.procs`,
    ]);
  });

  it('reads a pure v2 host (systemd scope) and v1 controllers listed together', () => {
    expect(cgroupProcsCandidates(`0::/system.slice/docker-${ID}.scope\n`, ID, '/cg')).toEqual([
      `/cg/system.slice/docker-${ID}.scope/cgroup.procs`,
      `/cg/unified/system.slice/docker-${ID}.scope/cgroup.procs`,
    ]);
    expect(cgroupProcsCandidates(`3:cpu,cpuacct:/docker/${ID}`, ID, '/cg')).toEqual([
      `/cg/cpu/docker/${ID}/cgroup.procs`,
    ]);
  });

  it('ignores garbage, paths that climb out, and controllers it cannot use', () => {
    expect(
      cgroupProcsCandidates(`nonsense\n5:devices:/docker/${ID}\n0::/../${ID}/../etc\n\u001b[2J`, ID, '/cg'),
    ).toEqual([]);
  });

  it("offers only cgroups that name the container: a rootless one's root or user cgroup lists the host's processes", () => {
    // A rootless container on a cgroup v1 host: no cgroup of its own anywhere.
    const rootless = ['9:name=systemd:/', '8:pids:/', '1:cpu:/user.slice', '0::/', ''].join('\n');
    expect(cgroupProcsCandidates(rootless, ID, '/cg')).toEqual([]);
    // Hybrid: v1 controllers per container, the unified hierarchy left at the engine's service.
    const hybrid = [`8:pids:/docker/${ID}`, '0::/system.slice/docker.service', ''].join('\n');
    expect(cgroupProcsCandidates(hybrid, ID, '/cg')).toEqual([`/cg/pids/docker/${ID}/cgroup.procs`]);
    // Another container's cgroup, and the same id as a prefix of a longer name.
    const other = ID.replace(/^8/, '9');
    expect(cgroupProcsCandidates(`0::/docker/${other}\n1:cpu:/docker/${ID}0\n`, ID, '/cg')).toEqual([]);
  });
});
