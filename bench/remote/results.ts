import type { SetupResult } from '../measure/connection-setup.js';
import type { DetectionResult } from '../measure/detection.js';
import type { ScaleResult } from '../measure/scale.js';
import type { ThroughputResult } from '../measure/throughput.js';
import type { RemoteIdle } from './idle.js';

/** Everything measured over one remote case; null where it does not apply or could not be made. */
export interface RemoteCaseResult {
  name: string;
  relayPath: string | null;
  /** `ports --json`'s path for the case's forwards (at the start → at the end). */
  portsPath: string | null;
  setup: SetupResult | null;
  throughput: ThroughputResult | null;
  scale: ScaleResult | null;
  idle: RemoteIdle | null;
}

/** The remote-engine section of a run. */
export interface RemoteResults {
  /** Why the section did not run, or null. */
  skipped: string | null;
  /** The `--relay-path` values `portpilot up --help` listed. */
  relayPaths: string[];
  cases: RemoteCaseResult[];
  /** Detection trials against the auto forwarder. */
  detection: DetectionResult | null;
  /** Cases that could not be set up (with why). */
  notSetUp: string[];
}

/** The rootless-Podman section: its cases (figures as the remote section's), or why it did not run. */
export interface RootlessResults {
  /** Why the section did not run, or null. */
  skipped: string | null;
  /** The user whose rootless Podman it drove, and that Podman's version. */
  user: string;
  podman: string | null;
  cases: RemoteCaseResult[];
  /** Detection trials against the auto forwarder. */
  detection: DetectionResult | null;
  /** Cases that could not be set up (with why). */
  notSetUp: string[];
}
