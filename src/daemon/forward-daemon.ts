import { closeSync, writeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { ForwarderError, PortpilotError, RuntimeError, StateError, errorMessage } from '../common/errors.js';
import { readProcessStartTime } from '../common/process-info.js';
import { ensureStateDir, refuseLinkedStateFile, statePaths, type StatePaths } from '../common/state-dir.js';
import { attributesLookup } from '../forwarding/attributes-lookup.js';
import {
  ContainerGoneSignal,
  ENGINE_CHECK_TIMEOUT_MS,
  createListenerSource,
  type ListenerSource,
} from '../forwarding/listener-source.js';
import type { PortEvent } from '../forwarding/port-entry.js';
import { probeContainerPrograms } from '../forwarding/relay-program.js';
import type { AgentInterpreter } from '../forwarding/relay-agent-script.js';
import { createSocketOwnerFinder } from '../forwarding/socket-owners.js';
import { OnDemandAgent, agentIdleMs } from '../forwarding/agent-on-demand.js';
import { findHostAddress, startRelayAgent } from '../forwarding/relay-agent.js';
import { dialableAddresses, wantsAgent } from '../forwarding/route.js';
import { Supervisor, type TargetContainer } from '../forwarding/supervisor.js';
import { Docker, type ContainerInfo } from '../runtime/docker.js';
import { daemonRunner } from '../runtime/process-runner.js';
import { retryDelayMs } from './backoff.js';
import { createDaemonLogSink } from './daemon-log.js';
import { dockerFor } from './exec-route.js';
import { parseDaemonSpec, stateDirOfSpecFile, type DaemonSpec } from './daemon-spec.js';
import { forwarderFiles, removeMarker, writeMarker } from './marker.js';
import { UNANSWERED_WAIT_MS, waitForRestart } from './restart-wait.js';
import { PeerWatch } from './peer-watch.js';
import { ScanSchedule } from './scan-schedule.js';
import { WarningThrottle } from './log-throttle.js';
import { READY_FD, ensureForwarder, type ReadyMessage } from './spawn-forwarder.js';
import { specForReplacement, waitForReplacement } from './follow-workspace.js';
import { shortId } from '../common/short-id.js';

/** How often the cheap change check runs (see ListenerSource.mayHaveChanged). */
export const CHANGE_CHECK_MS = 250;

type Logger = pino.Logger;

/** The forwarder's main: runs until signalled or until its container is gone. Never returns normally. */
export async function runForwardDaemon(specFile: string, containerIdArg: string): Promise<never> {
  const sink = createDaemonLogSink();
  const log = pino({ base: { pid: process.pid } }, sink);
  process.chdir('/');
  let spec: DaemonSpec;
  let paths: StatePaths;
  let supervisor: Supervisor;
  let source: ListenerSource;
  let docker: Docker;
  let containerId: string;
  let containerPid: number;
  let peers: PeerWatch[];
  try {
    spec = await readSpec(specFile, containerIdArg);
    paths = statePaths(spec.stateDir);
    sink.rotate(forwarderFiles(paths, spec.containerId).log);
    ({ supervisor, source, docker, containerId, containerPid, peers } = await start(spec, paths, log));
  } catch (error) {
    log.error({ err: error }, 'forwarder failed to start');
    reportReady(
      error instanceof PortpilotError
        ? { ok: false, message: error.message, description: error.description, code: error.code }
        : { ok: false, message: `the forwarder failed to start: ${errorMessage(error)}` },
    );
    process.exit(1);
  }
  return superviseUntilDone(
    spec,
    paths,
    { docker, supervisor, source, containerId, containerPid, peers },
    log,
  );
}

/**
 * The spec `up` wrote, read only once the state dir that holds it has been found safe (nobody else
 * could have put it there), and only when it is the spec of this state dir and container.
 */
async function readSpec(specFile: string, containerId: string): Promise<DaemonSpec> {
  const root = stateDirOfSpecFile(specFile, containerId);
  if (root === null) {
    throw new StateError(
      `the forwarder spec ${specFile} is not <state dir>/forwarders/${containerId}.spec.json`,
      {
        description: 'The forwarder is started by `portpilot up`; run that instead.',
      },
    );
  }
  await ensureStateDir(root);
  await refuseLinkedStateFile(specFile, 'forwarder spec');
  const spec = parseDaemonSpec(await readFile(specFile, 'utf8'), specFile);
  if (spec.stateDir !== root || spec.containerId !== containerId) {
    throw new StateError(`the forwarder spec ${specFile} is for another state dir or container`, {
      description: 'Run `portpilot up` again: it writes the spec afresh.',
    });
  }
  return spec;
}

async function start(spec: DaemonSpec, paths: StatePaths, log: Logger) {
  const docker = await dockerFor(spec.dockerPath, daemonRunner, log);
  const container = await docker.inspect(spec.containerId);
  if (!container?.running) {
    throw new RuntimeError(`container ${shortId(spec.containerId)} is not running`, {
      code: 'CONTAINER_NOT_RUNNING',
      description: 'Start the container (portpilot up) before forwarding its ports.',
    });
  }
  const startTime = await readProcessStartTime(process.pid);
  if (startTime === null) throw new ForwarderError('cannot read this process start time from /proc');

  const source = await createListenerSource(docker, container);
  const primary = await targetOf(docker, container, source, { wanted: wantsAgent(spec.relayPath), log });
  const others = new Map<string, TargetContainer>();
  const otherContainers: ContainerInfo[] = [];
  for (const declared of spec.declared) {
    if (declared.containerId === container.id || others.has(declared.containerId)) continue;
    const other = await docker.inspect(declared.containerId);
    if (!other?.running) {
      throw new RuntimeError(`the container of service '${declared.service ?? '?'}' is not running`, {
        code: 'CONTAINER_NOT_RUNNING',
      });
    }
    others.set(other.id, { ...(await targetOf(docker, other, source)), service: declared.service });
    otherContainers.push(other);
  }
  log.info(
    { containerId: container.id, relay: primary.relayProgram, listenerSource: source.kind },
    'forwarder starting',
  );

  const warnings = new WarningThrottle();
  const supervisor = new Supervisor({
    paths,
    docker,
    primary,
    others,
    attributes: attributesLookup(spec.attributes),
    owners: await createSocketOwnerFinder(docker, container.id, container.pid, source.kind),
    relayPath: spec.relayPath,
    hostAddress: spec.hostAddress,
    forwarder: { pid: process.pid, startTime },
    emit: (event: PortEvent) => log.info({ portEvent: event }, `port ${event.containerPort} ${event.type}`),
    log: (message, fields) => {
      const verdict = warnings.admit(message, Date.now());
      if (!verdict.write) return;
      const held = verdict.suppressed > 0 ? { repeatsNotLogged: verdict.suppressed } : {};
      log.warn({ ...fields, ...held }, message);
    },
  });
  for (const declared of spec.declared) await supervisor.declare(declared.containerId, declared.port);
  // Other services' containers are watched only where their tables can be read from the host.
  const peers: PeerWatch[] = [];
  const relayProgramOf = async (other: ContainerInfo) =>
    onHostNetwork(other) ? null : (await probeContainerPrograms(docker, other.id, other.name)).relayProgram;
  for (const other of otherContainers) {
    const peer = await PeerWatch.start({ docker, supervisor, log, relayProgramOf }, other);
    if (peer) peers.push(peer);
  }

  await writeMarker(paths, {
    pid: process.pid,
    startTime,
    containerId: container.id,
    containerName: container.name,
    logFile: forwarderFiles(paths, container.id).log,
    startedAt: new Date().toISOString(),
  }).catch((error: unknown) => {
    throw new ForwarderError(`cannot write the forwarder marker: ${errorMessage(error)}`, { cause: error });
  });
  reportReady({ ok: true, pid: process.pid });
  return { supervisor, source, docker, containerId: container.id, containerPid: container.pid, peers };
}

async function targetOf(
  docker: Docker,
  container: ContainerInfo,
  source: ListenerSource,
  agent: { wanted: boolean; log: Logger } | null = null,
): Promise<TargetContainer> {
  const directAddresses = directAddressesOf(container, source);
  const hostNetwork = onHostNetwork(container);
  // On the host's network nothing is relayed (see Supervisor): no relay program or agent is needed.
  const programs = hostNetwork ? null : await probeContainerPrograms(docker, container.id, container.name);
  return {
    id: container.id,
    name: container.name,
    service: container.composeService,
    directAddresses,
    relayProgram: programs?.relayProgram ?? null,
    agent:
      programs && agent?.wanted
        ? await agentFor(docker, container.id, directAddresses, programs.agentInterpreters, agent.log)
        : null,
    hostNetwork,
    publishedPorts: container.publishedPorts,
  };
}

/** Pure: whether the container runs in the host's own network namespace (network mode `host`). */
export function onHostNetwork(container: Pick<ContainerInfo, 'networkMode'>): boolean {
  return container.networkMode === 'host';
}

/** The container's addresses the host can dial (see dialableAddresses). */
function directAddressesOf(container: ContainerInfo, source: ListenerSource): string[] {
  return dialableAddresses(container.ipAddresses, source.kind === 'host-proc');
}

/**
 * The relay agent turns a loopback-bound server into a direct dial of the container's address (a few
 * ms to connect instead of a `docker exec`, and no 25 MB client per connection). It needs python3 or
 * perl in the container and a route from the host; without them connections go through exec. It is
 * started by the first connection that needs it (see OnDemandAgent).
 */
async function agentFor(
  docker: Docker,
  containerId: string,
  directAddresses: string[],
  interpreters: readonly AgentInterpreter[],
  log: Logger,
): Promise<OnDemandAgent | null> {
  const containerAddress = directAddresses.find((address) => !address.includes(':'));
  if (!containerAddress || interpreters.length === 0) return null;
  const hostAddress = await findHostAddress(containerAddress);
  if (hostAddress === null) return null;
  return new OnDemandAgent(
    containerAddress,
    async () => {
      for (const interpreter of interpreters) {
        const agent = await startRelayAgent(docker, containerId, {
          containerAddress,
          hostAddress,
          interpreter,
          log: (message) => log.info(message),
        });
        if (agent) {
          log.info({ interpreter, address: `${agent.host}:${agent.port}` }, 'relay agent running');
          return agent;
        }
      }
      log.warn('no relay agent could start: loopback-bound ports go through exec');
      return null;
    },
    {
      idleMs: agentIdleMs(),
      onStartFailed: (retryInMs) =>
        log.info({ retryInMs }, 'connections go through exec until the relay agent is tried again'),
      onIdleStop: (idleMs) =>
        log.info({ idleMs }, 'relay agent stopped after an idle spell; the next connection starts it again'),
    },
  );
}

async function superviseUntilDone(
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

  const schedule = new ScanSchedule();
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
        // New addresses, perhaps, and a new relay agent: the old one died with the container.
        try {
          source = await createListenerSource(docker, container);
          const fresh = await targetOf(docker, container, source, {
            wanted: wantsAgent(spec.relayPath),
            log,
          });
          await supervisor.refresh(container.id, fresh);
          log.info({ directAddresses: fresh.directAddresses }, 'forwarding to the restarted container');
        } catch (refreshError) {
          // Its addresses at least are known: dial them, and keep the relay program probed before.
          await supervisor.refresh(container.id, { directAddresses: directAddressesOf(container, source) });
          log.warn({ err: refreshError }, 'cannot look the restarted container over again');
        }
      }
    }
    const pauseMs = readFailures > 0 ? retryDelayMs(readFailures) : CHANGE_CHECK_MS;
    await sleep(pauseMs, undefined, { signal: wake.signal }).catch(() => undefined);
  }
  log.info({ reason: stopping }, 'forwarder stopping');
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

function reportReady(message: ReadyMessage): void {
  try {
    writeSync(READY_FD, JSON.stringify(message) + '\n');
    closeSync(READY_FD);
  } catch {
    // `up` is gone; nobody to tell.
  }
}
