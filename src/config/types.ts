/** A port to forward whatever listens: `3000` (service null) or `"db:5432"` (another Compose service). */
export interface DeclaredPort {
  service: string | null;
  port: number;
  /** `"5353/udp"`: a UDP port; absent for TCP (a bare number stays TCP). */
  protocol?: 'udp';
}

/** What to do when a port is auto-forwarded (portsAttributes.onAutoForward). */
export type OnAutoForward =
  'notify' | 'silent' | 'ignore' | 'openBrowser' | 'openBrowserOnce' | 'openPreview';

/** The options one portsAttributes entry (or otherPortsAttributes) sets; unset options are absent. */
export interface PortAttributes {
  label?: string;
  protocol?: 'http' | 'https';
  onAutoForward?: OnAutoForward;
  requireLocalPort?: boolean;
  elevateIfNeeded?: boolean;
}

/**
 * A portsAttributes key: `"3000"`, a range `"3000-3010"` (inclusive), `"db:5432"` (a port of another
 * Compose service), or else a regular expression tested against the listening process's command line.
 * A port, range or service key ending in `/udp` (`"5353/udp"`) applies to UDP ports only (`protocol`
 * set); one without, to TCP ports only. A regex applies to both.
 */
export type PortAttributesKey =
  | { kind: 'port'; port: number; protocol?: 'udp' }
  | { kind: 'range'; from: number; to: number; protocol?: 'udp' }
  | { kind: 'service'; service: string; port: number; protocol?: 'udp' }
  | { kind: 'regex'; source: string; regex: RegExp };
