import type { PathName } from '../config.js';
import type { DetectionResult } from '../measure/detection.js';
import type { IdleResult } from '../measure/idle-cost.js';
import { ratio } from '../stats.js';
import { formatNumber } from './format.js';
import type { PathResult, TargetResult } from './results.js';

function check(
  target: string,
  measured: string,
  value: number | null | undefined,
  ok: (v: number) => boolean,
) {
  const known = value != null && Number.isFinite(value);
  return { target, measured: known ? measured : 'not measured', pass: known ? ok(value) : null };
}

/** Pure: the brief's targets, checked against a run's figures. */
export function evaluateTargets(
  paths: readonly PathResult[],
  idle: IdleResult | null,
  detection: DetectionResult | null,
): TargetResult[] {
  const byName = new Map(paths.map((path) => [path.name, path]));
  const get = (name: PathName) => byName.get(name);
  const direct = get('direct');
  const exec = get('exec-per-connection');
  const targets: TargetResult[] = [];

  for (const name of ['portpilot-wildcard', 'portpilot-loopback'] as const) {
    const speedup = ratio(exec?.setup?.p50Ms, get(name)?.setup?.p50Ms);
    targets.push(
      check(
        `${name}: setup p50 ≥15× faster than exec-per-connection`,
        `${formatNumber(speedup)}× faster`,
        speedup,
        (v) => v >= 15,
      ),
    );
  }
  const wildcardSetup = ratio(get('portpilot-wildcard')?.setup?.p50Ms, direct?.setup?.p50Ms);
  targets.push(
    check(
      'portpilot-wildcard: setup p50 within 2× direct',
      `${formatNumber(wildcardSetup)}× direct`,
      wildcardSetup,
      (v) => v <= 2,
    ),
  );
  for (const [name, floor] of [
    ['portpilot-wildcard', 0.8],
    ['portpilot-loopback', 0.5],
  ] as const) {
    const share = ratio(get(name)?.throughput?.mbPerS, direct?.throughput?.mbPerS);
    targets.push(
      check(
        `${name}: throughput ≥${floor} of direct`,
        `${formatNumber(share)} of direct`,
        share,
        (v) => v >= floor,
      ),
    );
  }
  const p50 = detection?.p50Ms;
  const p95 = detection?.p95Ms;
  targets.push(
    check(
      `portpilot: detection over ${detection?.trials ?? 0} trials p50 ≤300 ms, p95 ≤1 s`,
      `${formatNumber(p50)} / ${formatNumber(p95)} ms`,
      p50 == null || p95 == null ? null : p50,
      () => (p50 ?? Infinity) <= 300 && (p95 ?? Infinity) <= 1000,
    ),
  );
  targets.push(
    check(
      'idle forwarder (10 ports): ≤0.6 CPU s/min',
      `${formatNumber(idle?.totalCpuSPerMin)} s/min`,
      idle?.totalCpuSPerMin,
      (v) => v <= 0.6,
    ),
  );
  const idleRss = idle ? idle.hostRssMB + idle.containerRssMB : null;
  targets.push(
    check('idle forwarder (10 ports): RSS ≤60 MB', `${formatNumber(idleRss)} MB`, idleRss, (v) => v <= 60),
  );
  // Idle again after use: what a forwarder whose ports are used now and then holds between uses.
  const usedRss = idle ? idle.afterIdleSpell.hostRssMB + idle.afterIdleSpell.containerRssMB : null;
  targets.push(
    check(
      `idle forwarder (10 ports), ${formatNumber(idle?.idleSpellS)} s after one connection to each: RSS ≤60 MB`,
      `${formatNumber(usedRss)} MB`,
      usedRss,
      (v) => v <= 60,
    ),
  );
  for (const name of ['portpilot-loopback', 'portpilot-wildcard'] as const) {
    const perConnection = get(name)?.memory?.perConnectionKB;
    targets.push(
      check(
        `${name}: memory per connection ≤1 MB`,
        `${formatNumber(perConnection)} kB`,
        perConnection,
        (v) => v <= 1000,
      ),
    );
  }
  for (const name of ['portpilot-wildcard', 'portpilot-loopback', 'portpilot-loopback-exec'] as const) {
    const scale = get(name)?.scale;
    const broken = scale ? scale.failed + scale.altered : null;
    targets.push(
      check(
        `${name}: 200 concurrent echoes, none failed or altered`,
        scale ? `${scale.failed} failed, ${scale.altered} altered` : '',
        broken,
        (v) => v === 0,
      ),
    );
  }
  return targets;
}
