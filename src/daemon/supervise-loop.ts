import type { ReversePorts } from './reverse-ports.js';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import type { StatePaths } from '../common/state-dir.js';
import type { DaemonSpec } from '../control/daemon-spec.js';
import { forwarderFiles, removeMarker } from '../control/marker.js';
import { ensureForwarder } from '../control/spawn-forwarder.js';
import {
  ContainerGoneSignal,
  ENGINE_CHECK_TIMEOUT_MS,
  createListenerSource,
  type ListenerSource,
} from '../forwarding/detect/listener-source.js';
import type { Supervisor } from '../forwarding/supervisor.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { retryDelayMs } from './backoff.js';
import { directAddressesOf, reportedSource, targetOf, wantedPaths } from './container-targets.js';
import { specForReplacement, waitForReplacement } from './follow-workspace.js';
import type { PeerWatch } from './peer-watch.js';
import { UNANSWERED_WAIT_MS, waitForRestart } from './restart-wait.js';
import { ScanSchedule, fullScanIntervalOf } from './scan-schedule.js';

type Logger = pino.Logger;

/** How often the cheap change check runs (see ListenerSource.mayHaveChanged). */
export const CHANGE_CHECK_MS = 250;

/**
 * The forwarder's loop: reads the listeners when they may have changed, follows the container
 * through restarts, and on the way out releases everything (and hands over to a rebuilt workspace's
 * new container). Never returns.
 */
export async function superviseUntilDone(
  spec: DaemonSpec,
  paths: StatePaths,
  started: {
    docker: Docker;
    supervisor: Supervisor;
    source: ListenerSource;
    /** The primary container's full id. */
    containerId: string;
    containerPid: number;
    peers: readonly PeerWatch[];
    reverse: ReversePorts;
  },
  log: Logger,
): Promise<never> {
  const { docker, supervisor, peers } = started;
  let source = started.source;
  let containerPid = started.containerPid;
  let stopping: string | null = null;
  const wake = new AbortController();
  const stop = (reason: string) => {
    stopping ??= reason;
    wake.abort();
  };
  process.on('SIGTERM', () => stop('the forwarder was asked to stop (SIGTERM)'));
  process.on('SIGINT', () => stop('the forwarder was interrupted (SIGINT)'));
  process.on('SIGHUP', () => undefined);

  const schedule = new ScanSchedule(fullScanIntervalOf(source.kind));
  let followWorkspace = false;
  // Reads failed in a row for reasons that say nothing about the container (see ListenerSource):
  // retried with back-off, and nothing forwarded is withdrawn meanwhile.
  let readFailures = 0;
  while (stopping === null) {
    for (const peer of peers) {
      await peer
        .check(Date.now())
        .catch((error: unknown) =>
          log.warn({ err: error, containerId: peer.containerId }, 'watching failed'),
        );
    }
    try {
      if (schedule.due(await source.mayHaveChanged(), Date.now())) {
        const listeners = await source.read();
        if (readFailures > 0) log.info({ failures: readFailures }, 'reading listeners works again');
        readFailures = 0;
        schedule.scanned(JSON.stringify(listeners), Date.now());
        await supervisor.reconcile(listeners);
      }
    } catch (error) {
      if (!(error instanceof ContainerGoneSignal)) {
        readFailures += 1;
        log.warn(
          { err: error, failures: readFailures, retryInMs: retryDelayMs(readFailures) },
          'reading listeners failed',
        );
      } else {
        readFailures = 0;
        // `docker restart` shows the container down for a moment: wait for it before giving up.
        const downSince = Date.now();
        await supervisor.suspend(started.containerId);
        const container = await waitForRestart(
          () => docker.inspect(started.containerId, { timeoutMs: ENGINE_CHECK_TIMEOUT_MS }),
          containerPid,
          wake.signal,
          {
            onFailure: (error, failures) =>
              log.warn({ err: error, failures }, 'cannot ask the engine whether the container runs'),
            // Read from the host, the init process was seen gone; through exec, the engine said so.
            unansweredLimitMs: source.kind === 'host-proc' ? UNANSWERED_WAIT_MS : undefined,
          },
        );
        if (!container) {
          log.info({ waitedMs: Date.now() - downSince }, 'the container stayed down');
          followWorkspace = spec.follow !== undefined && stopping === null;
          stop('the container stopped');
          break;
        }
        log.info(
          { pid: container.pid, waitedMs: Date.now() - downSince },
          'container restarted; following its new init process',
        );
        containerPid = container.pid;
        // New addresses, perhaps, and a new namespace helper, relay agent and mux channel: the old
        // ones died with the container.
        try {
          source = await createListenerSource(docker, container);
          const fresh = await targetOf(docker, container, source, wantedPaths(spec.relayPath, log));
          await supervisor.refresh(container.id, fresh);
          await started.reverse.serve(fresh);
          source = reportedSource(source, fresh);
          log.info({ directAddresses: fresh.directAddresses }, 'forwarding to the restarted container');
        } catch (refreshError) {
          // Its addresses at least are known: dial them, and keep the relay program probed before.
          await supervisor.refresh(container.id, {
            directAddresses: directAddressesOf(container, source, docker),
          });
          log.warn({ err: refreshError }, 'cannot look the restarted container over again');
        }
      }
    }
    const pauseMs = readFailures > 0 ? retryDelayMs(readFailures) : CHANGE_CHECK_MS;
    await sleep(pauseMs, undefined, { signal: wake.signal }).catch(() => undefined);
  }
  log.info({ reason: stopping }, 'forwarder stopping');
  await started.reverse.end();
  await supervisor.shutdown(stopping ?? 'stopped');
  await removeMarker(paths, spec.containerId, process.pid).catch(() => undefined);
  await rm(forwarderFiles(paths, spec.containerId).spec, { force: true }).catch(() => undefined);
  if (followWorkspace && spec.follow) {
    // Its ports are released already: a rebuild may build an image before it starts the new container.
    log.info({ labels: spec.follow }, 'waiting for a container of the workspace to replace it');
    const interrupt = new AbortController();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => interrupt.abort());
    const replacement = await waitForReplacement(docker, spec.follow, started.containerId, interrupt.signal);
    if (replacement) await handOver(spec, paths, replacement, log);
  }
  log.info('forwarder stopped');
  process.exit(0);
}

/**
 * Starts (or finds) the forwarder of the container that replaced ours, now that our host ports are
 * released: it binds the same ones wherever they are still free.
 */
async function handOver(spec: DaemonSpec, paths: StatePaths, replacement: ContainerInfo, log: Logger) {
  try {
    const handle = await ensureForwarder(
      paths,
      {
        kind: 'workspace',
        spec: specForReplacement(spec, replacement.id),
      },
      (message) => log.warn(message),
    );
    log.info(
      { containerId: replacement.id, forwarderPid: handle.pid, reused: handle.reused },
      'forwarding moved to the container that replaced this one',
    );
  } catch (error) {
    log.error({ err: error, containerId: replacement.id }, 'cannot forward the replacement container');
  }
}
