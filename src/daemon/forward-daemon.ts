import { ReversePorts } from './reverse-ports.js';
import { readFile } from 'node:fs/promises';
import pino from 'pino';
import { ForwarderError, PortpilotError, RuntimeError, StateError, errorMessage } from '../common/errors.js';
import { readProcessStartTime } from '../common/process-info.js';
import { shortId } from '../common/short-id.js';
import { ensureStateDir, refuseLinkedStateFile, statePaths, type StatePaths } from '../common/state-dir.js';
import { parseDaemonSpec, stateDirOfSpecFile, type DaemonSpec } from '../control/daemon-spec.js';
import { forwarderFiles, writeMarker } from '../control/marker.js';
import { reportReady } from '../control/ready-signal.js';
import { attributesLookup } from '../forwarding/attributes-lookup.js';
import { createListenerSource, type ListenerSource } from '../forwarding/detect/listener-source.js';
import { createSocketOwnerFinder } from '../forwarding/detect/socket-owners.js';
import { reportedOwners } from '../forwarding/detect/channel-listener-source.js';
import type { PortEvent } from '../forwarding/port-entry.js';
import { probeContainerPrograms } from '../forwarding/relay/exec/program-probe.js';
import { nativeUdpRelayProgram } from '../forwarding/relay/native-udp/native-udp-build.js';
import { Supervisor, type TargetContainer } from '../forwarding/supervisor.js';
import type { ContainerInfo, Docker } from '../runtime/docker.js';
import { daemonRunner } from '../runtime/process-runner.js';
import { onHostNetwork, reportedSource, targetOf, wantedPaths } from './container-targets.js';
import { createDaemonLogSink } from './daemon-log.js';
import { dockerFor } from './exec-route.js';
import { WarningThrottle } from './log-throttle.js';
import { PeerWatch } from './peer-watch.js';
import { superviseUntilDone } from './supervise-loop.js';

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
  let reverse: ReversePorts;
  try {
    spec = await readSpec(specFile, containerIdArg);
    paths = statePaths(spec.stateDir);
    sink.rotate(forwarderFiles(paths, spec.containerId).log);
    ({ supervisor, source, docker, containerId, containerPid, peers, reverse } = await start(
      spec,
      paths,
      log,
    ));
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
    { docker, supervisor, source, containerId, containerPid, peers, reverse },
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
  const linkSocket = forwarderFiles(paths, spec.containerId).engineSocket;
  const docker = await dockerFor(spec.dockerPath, daemonRunner, log, linkSocket);
  const container = await docker.inspect(spec.containerId);
  if (!container?.running) {
    throw new RuntimeError(`container ${shortId(spec.containerId)} is not running`, {
      code: 'CONTAINER_NOT_RUNNING',
      description: 'Start the container (portpilot up) before forwarding its ports.',
    });
  }
  const startTime = await readProcessStartTime(process.pid);
  if (startTime === null) throw new ForwarderError('cannot read this process start time from /proc');

  const probedSource = await createListenerSource(docker, container);
  const primary = await targetOf(docker, container, probedSource, wantedPaths(spec.relayPath, log));
  const source = reportedSource(probedSource, primary);
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
    owners: reportedOwners(
      source,
      await createSocketOwnerFinder(docker, container.id, container.pid, source.kind),
    ),
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
    nativeUdp: {
      program: nativeUdpRelayProgram(paths.root, daemonRunner, (message, fields) =>
        log.info(fields ?? {}, message),
      ),
      runner: daemonRunner,
    },
  });
  for (const declared of spec.declared) {
    await supervisor.declare(declared.containerId, declared.port, declared.protocol);
  }
  // Other services' containers are watched only where their tables can be read from the host.
  const peers: PeerWatch[] = [];
  const relayProgramOf = async (other: ContainerInfo) =>
    onHostNetwork(other) ? null : (await probeContainerPrograms(docker, other.id, other.name)).relayProgram;
  for (const other of otherContainers) {
    const peer = await PeerWatch.start({ docker, supervisor, log, relayProgramOf }, other);
    if (peer) peers.push(peer);
  }

  const startedAt = new Date().toISOString();
  await writeMarker(paths, {
    pid: process.pid,
    startTime,
    containerId: container.id,
    containerName: container.name,
    logFile: forwarderFiles(paths, container.id).log,
    startedAt,
  }).catch((error: unknown) => {
    throw new ForwarderError(`cannot write the forwarder marker: ${errorMessage(error)}`, { cause: error });
  });
  const reverse = new ReversePorts(spec.reversePorts ?? [], {
    docker,
    log,
    relayPath: spec.relayPath,
    paths,
    owner: {
      containerId: container.id,
      containerName: container.name,
      forwarderPid: process.pid,
      since: startedAt,
    },
  });
  await reverse.serve(primary);
  reportReady({ ok: true, pid: process.pid });
  return {
    supervisor,
    source,
    docker,
    containerId: container.id,
    containerPid: container.pid,
    peers,
    reverse,
  };
}
