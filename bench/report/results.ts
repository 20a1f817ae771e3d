import type { PathName } from '../config.js';
import type { MachineInfo } from '../setup/environment.js';
import type { SetupResult } from '../measure/connection-setup.js';
import type { Detection, DetectionResult } from '../measure/detection.js';
import type { IdleResult } from '../measure/idle-cost.js';
import type { MemoryResult } from '../measure/connection-memory.js';
import type { RequestsResult } from '../measure/requests.js';
import type { ScaleResult } from '../measure/scale.js';
import type { ThroughputResult } from '../measure/throughput.js';
import type { RemoteResults, RootlessResults } from '../remote/results.js';
import type { Section } from '../sections.js';
import type { UdpResults } from '../udp/results.js';
import { ratio } from '../stats.js';

/** Everything measured over one path; null where the measure does not apply or could not be made. */
export interface PathResult {
  name: PathName;
  /** portpilot cases: `ports --json`'s path for the path's forwards (at the start → at the end). */
  portsPath: string | null;
  setup: SetupResult | null;
  throughput: ThroughputResult | null;
  requests: RequestsResult | null;
  detection: DetectionResult | null;
  memory: MemoryResult | null;
  scale: ScaleResult | null;
}

/** A path's figures divided by direct's (time: ×slower when > 1; rates: fraction of direct). */
export interface Ratios {
  setupP50: number | null;
  setupP99: number | null;
  throughput: number | null;
  requests: number | null;
}

/** A target from the brief, checked against a run. */
export interface TargetResult {
  target: string;
  measured: string;
  /** null: not measured. */
  pass: boolean | null;
}

/** One run, as written to bench/results/<date>.json. */
export interface RunResults {
  date: string;
  durationS: number;
  machine: MachineInfo;
  settings: Record<string, number | string>;
  paths: (PathResult & { ratios: Ratios })[];
  idle: IdleResult | null;
  detection: Detection | null;
  targets: TargetResult[];
  /** The sections this run made (`--sections`); a section left out has no figures. */
  sections: Section[];
  /** The remote-engine, rootless-Podman and UDP sections (null: not run, or for UDP not measured) and their targets. */
  remote: RemoteResults | null;
  remoteTargets: TargetResult[];
  rootless: RootlessResults | null;
  rootlessTargets: TargetResult[];
  udp: UdpResults | null;
  udpTargets: TargetResult[];
  /** Measures that could not be made (the run then exits non-zero). */
  errors: string[];
}

/** Pure: a path's ratios to the direct path's figures. */
export function ratiosToDirect(path: PathResult, direct: PathResult | undefined): Ratios {
  return {
    setupP50: ratio(path.setup?.p50Ms, direct?.setup?.p50Ms),
    setupP99: ratio(path.setup?.p99Ms, direct?.setup?.p99Ms),
    throughput: ratio(path.throughput?.mbPerS, direct?.throughput?.mbPerS),
    requests: ratio(path.requests?.rps, direct?.requests?.rps),
  };
}
