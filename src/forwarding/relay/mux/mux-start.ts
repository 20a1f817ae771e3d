import { errorMessage } from '../../../common/errors.js';
import type { Log } from '../../../common/log.js';
import { shortId } from '../../../common/short-id.js';
import type { Docker } from '../../../runtime/docker.js';
import type { AgentInterpreter } from '../agent/agent-protocol.js';
import { muxAgentArgv } from './mux-agent-argv.js';
import { MuxChannel } from './mux-channel.js';
import { OnDemandMux } from './mux-on-demand.js';

/** Starts a mux channel in the container with the first interpreter that runs it; null when none does. */
export async function startMuxChannel(
  docker: Docker,
  containerId: string,
  interpreters: readonly AgentInterpreter[],
  log: Log,
): Promise<MuxChannel | null> {
  for (const interpreter of interpreters) {
    const where = `mux agent (${interpreter}) in container ${shortId(containerId)}`;
    let channel: MuxChannel | null;
    try {
      channel = await MuxChannel.start(docker.execStream(containerId, muxAgentArgv(interpreter)), {
        where,
        log,
      });
    } catch (error) {
      log(`cannot start the ${where}: ${errorMessage(error)}`);
      continue;
    }
    if (channel) {
      log(`${where} running`, { interpreter });
      return channel;
    }
  }
  log('no mux agent could start: connections go through exec');
  return null;
}

/**
 * The container's mux channel, started by the first connection that needs it: one exec that
 * carries every connection (no exec, and no docker client, per connection), wherever the host
 * cannot dial the container. It needs python3 or perl in the container; null without either.
 */
export function muxFor(
  docker: Docker,
  containerId: string,
  interpreters: readonly AgentInterpreter[],
  options: { idleMs: number; info: Log },
): OnDemandMux | null {
  if (interpreters.length === 0) return null;
  const { info } = options;
  return new OnDemandMux(() => startMuxChannel(docker, containerId, interpreters, info), {
    idleMs: options.idleMs,
    onStartFailed: (retryInMs) =>
      info('connections go through exec until the mux channel is tried again', { retryInMs }),
    onIdleStop: (idleMs) =>
      info('mux channel stopped after an idle spell; the next connection starts it again', { idleMs }),
  });
}
