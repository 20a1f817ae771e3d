import type pino from 'pino';
import { reversePortText, type ReversePort } from '../config/reverse-ports.js';
import { reverseEntry, type RelayPath, type ReverseOwner } from '../forwarding/port-entry.js';
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
 * through the next one when the container restarts. Each gets a `forwarded` port event, or a
 * `failed` one saying why it cannot be served (`ports --watch` shows them).
 */
export class ReversePorts {
  private served: ServedReversePort[] = [];

  constructor(
    private readonly ports: readonly ReversePort[],
    private readonly deps: { docker: Docker; log: Logger; relayPath: RelayPath | null; owner: ReverseOwner },
  ) {}

  /** Serves every reverse port through `helper` (the container's current one), or says why not. */
  serve(helper: NamespaceHelper | null, hostNetwork: boolean): void {
    this.close();
    const { log, docker } = this.deps;
    for (const port of this.ports) {
      const entry = reverseEntry(this.deps.owner, port);
      const event = { direction: 'reverse', hostPort: port.hostPort, containerPort: port.containerPort };
      // A port event as the forwards' are: `ports --watch` shows it.
      const report = (type: 'forwarded' | 'failed', reason: string | null) =>
        log[type === 'forwarded' ? 'info' : 'warn'](
          {
            portEvent: {
              ...entry,
              type,
              at: new Date().toISOString(),
              ...(reason === null ? {} : { reason }),
            },
          },
          `reverse port ${reversePortText(port)} ${type}`,
        );
      if (helper === null) {
        report('failed', noHelperReason(this.deps.relayPath, hostNetwork));
        continue;
      }
      const served = serveReversePort(helper, port, {
        docker,
        log: (message, fields) => log.info({ ...fields, ...event }, message),
      });
      this.served.push(served);
      void served.listening.then((reason) => report(reason === null ? 'forwarded' : 'failed', reason));
    }
  }

  close(): void {
    for (const served of this.served) served.close();
    this.served = [];
  }
}
