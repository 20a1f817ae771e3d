import type pino from 'pino';
import { reversePortText, type ReversePort } from '../config/reverse-ports.js';
import type { RelayPath } from '../forwarding/port-entry.js';
import type { NamespaceHelper } from '../forwarding/relay/netns/namespace-helper.js';
import { serveReversePort, type ServedReversePort } from '../forwarding/reverse-relay.js';
import { wantsNetns } from '../forwarding/route.js';
import type { Docker } from '../runtime/docker.js';

type Logger = pino.Logger;

/** Pure: why a container's reverse ports cannot be served without a namespace helper. */
export function noHelperReason(relayPath: RelayPath | null, hostNetwork: boolean): string {
  if (hostNetwork) return "the container is on the host's network: the host's loopback is its own already";
  if (!wantsNetns(relayPath)) {
    return `--relay-path ${relayPath ?? 'auto'} rules out the namespace helper, which serves reverse ports`;
  }
  return "this forwarder cannot enter the container's network namespace (it must be root, or own a rootless engine's, with the engine on this machine; the forwarder log says which)";
}

/**
 * The reverse ports of the forwarder's container, served through its namespace helper; served again
 * through the next one when the container restarts. Each gets a `failed` log event saying why when
 * it cannot be served.
 */
export class ReversePorts {
  private served: ServedReversePort[] = [];

  constructor(
    private readonly ports: readonly ReversePort[],
    private readonly deps: { docker: Docker; log: Logger; relayPath: RelayPath | null },
  ) {}

  /** Serves every reverse port through `helper` (the container's current one), or says why not. */
  serve(helper: NamespaceHelper | null, hostNetwork: boolean): void {
    this.close();
    const { log, docker } = this.deps;
    for (const port of this.ports) {
      const event = { direction: 'reverse', hostPort: port.hostPort, containerPort: port.containerPort };
      if (helper === null) {
        const reason = noHelperReason(this.deps.relayPath, hostNetwork);
        log.warn(
          { reverseEvent: { ...event, type: 'failed', reason } },
          `reverse port ${reversePortText(port)} failed`,
        );
        continue;
      }
      const served = serveReversePort(helper, port, {
        docker,
        log: (message, fields) => log.info({ ...fields, ...event }, message),
      });
      this.served.push(served);
      void served.listening.then((reason) => {
        const type = reason === null ? 'forwarded' : 'failed';
        log[reason === null ? 'info' : 'warn'](
          { reverseEvent: { ...event, type, ...(reason === null ? {} : { reason }) } },
          `reverse port ${reversePortText(port)} ${type}`,
        );
      });
    }
  }

  close(): void {
    for (const served of this.served) served.close();
    this.served = [];
  }
}
