import type { RelayPath } from '../forwarding/port-entry.js';

/** Options every command shares. */
export interface CommonOptions {
  stateDir: string;
  dockerPath: string;
}

/** How `up` asks for forwarding. */
export interface ForwardingOptions {
  autoForward: boolean;
  /** Raw `--forward-port` values: `PORT` or `SERVICE:PORT`. */
  forwardPorts: string[];
  relayPath: RelayPath | null;
  hostAddress: string;
  /** Raw `--reverse-port` values: `PORT` or `PORT:CONTAINER_PORT`; absent is none. */
  reversePorts?: string[];
}
