import type { Socket } from 'node:net';
import { errorMessage } from '../../common/errors.js';
import type { Log } from '../../common/log.js';
import type { Docker } from '../../runtime/docker.js';
import { readInto } from './read-into.js';
import { relayExec } from './exec/exec-connection.js';
import { reset } from './socket-reset.js';
import { HOST_DIALER, type ContainerDialer } from './container-dialer.js';

/**
 * Where one host connection goes: the container's IP, a helper in its network namespace, its relay
 * agent, its mux channel, or an exec relay.
 */
export type RelayTarget =
  | {
      path: 'direct';
      host: string;
      port: number;
      /** How `host` is dialled: from this host when absent, or through the SSH link. */
      dialer?: ContainerDialer;
      /**
       * Where a connection goes when this address refuses it (an IPv6-only server dialled at the
       * container's IPv4 address), and who is told; without it a refusal resets the client.
       */
      refused?: { fallback: Exclude<RelayTarget, { path: 'direct' }>; onRefused: () => void };
    }
  | {
      path: 'agent';
      /** Null when no agent can run after all: the connection takes `fallback` instead. */
      connect: (destination: Socket) => Promise<Socket | null>;
      fallback: InsideTarget | null;
    }
  | {
      path: 'mux';
      /**
       * Carries the client on the container's mux channel: null when none can run (the connection
       * takes `fallback`), else the relay, whose `finished` says when the client has closed;
       * rejects when the target refused.
       */
      relay: (client: Socket) => Promise<{ finished: Promise<void> } | null>;
      fallback: InsideTarget | null;
    }
  | {
      path: 'netns';
      /** Null when no helper can run: the connection takes `fallback`, or is reset without one. */
      connect: (destination: Socket) => Promise<Socket | null>;
      fallback: InsideTarget | null;
    }
  | { path: 'exec'; containerId: string; argv: string[] };

/** A path inside the container: each but exec may give way to a next one (null: none left). */
export type InsideTarget = Exclude<RelayTarget, { path: 'direct' }>;

/** What a relay needs: the runtime, and where to report trouble. */
export interface RelayDeps {
  docker: Docker;
  log?: Log;
}

/** Relays one accepted host socket to the target until both directions are done; resolves when everything is closed. */
export function relayConnection(client: Socket, target: RelayTarget, deps: RelayDeps): Promise<void> {
  if (client.destroyed) return Promise.resolve();
  client.setNoDelay(true);
  switch (target.path) {
    case 'direct':
      return relayDirect(client, target, deps);
    case 'agent':
      return relayInside(client, target, deps);
    case 'mux':
      return relayMux(client, target, deps);
    case 'netns':
      return relayInside(client, target, deps);
    case 'exec':
      return relayExec(client, target, deps);
  }
}

/**
 * Calls `settled` once both sockets have closed; a client cut short (reset or destroyed) resets the
 * server's side. detachClient() hands the client on to another path (it is not counted any more).
 */
function settleWhenClosed(client: Socket, upstream: Socket, settled: () => void) {
  let open = 2;
  const closed = () => {
    if (--open === 0) settled();
  };
  const onClientClose = () => {
    if (cutShort(client)) reset(upstream);
    closed();
  };
  client.once('close', onClientClose);
  upstream.once('close', closed);
  return { detachClient: () => void client.off('close', onClientClose) };
}

/**
 * True when a closed client socket went away without finishing both directions: reset by its peer
 * or destroyed here (the forwarder shutting down). Its server must not be left holding a connection
 * that nobody reads, so the container side is ended too.
 */
function cutShort(client: Socket): boolean {
  return !client.readableEnded || !client.writableFinished;
}

async function relayDirect(
  client: Socket,
  target: Extract<RelayTarget, { path: 'direct' }>,
  deps: RelayDeps,
): Promise<void> {
  const dialer = target.dialer ?? HOST_DIALER;
  let upstream: Socket | null = null;
  // Reads start only once the socket is connected, after `upstream` is set.
  const onread = readInto(client, () => upstream as Socket);
  const options = { allowHalfOpen: true, noDelay: true, onread };
  try {
    upstream = await dialer.dial(target.host, target.port, options);
  } catch (error) {
    deps.log?.(`cannot connect to ${target.host}:${target.port}`, { error: errorMessage(error) });
    reset(client);
    return;
  }
  if (upstream.destroyed || client.destroyed) {
    if (upstream.destroyed)
      deps.log?.(`cannot connect to ${target.host}:${target.port}`, { via: dialer.via });
    reset(upstream);
    reset(client);
    return;
  }
  return carryDirect(client, upstream, target, deps);
}

function carryDirect(
  client: Socket,
  upstream: Socket,
  target: Extract<RelayTarget, { path: 'direct' }>,
  deps: RelayDeps,
): Promise<void> {
  return new Promise((resolve) => {
    const ends = settleWhenClosed(client, upstream, resolve);
    let connected = false;
    const onClientError = () => reset(upstream);
    client.on('error', onClientError);
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      const { refused } = target;
      if (!connected && refused && error.code === 'ECONNREFUSED' && !client.destroyed) {
        // Nothing of the client's was read yet: it goes whole to the other path.
        ends.detachClient();
        client.off('error', onClientError);
        refused.onRefused();
        resolve(relayConnection(client, refused.fallback, deps));
        return;
      }
      if (!connected)
        deps.log?.(`cannot connect to ${target.host}:${target.port}`, { error: errorMessage(error) });
      reset(client);
    });
    // pipe() carries backpressure and turns the client's EOF into end() (a FIN) on the server's
    // side; the server's bytes come through readInto, and its EOF is passed on here. With a
    // fallback, the client's bytes wait in its socket until the server has accepted.
    const onConnect = () => {
      connected = true;
      if (!target.refused) return;
      if (client.destroyed) upstream.destroy();
      else client.pipe(upstream);
    };
    if (upstream.connecting) upstream.once('connect', onConnect);
    else onConnect();
    if (!target.refused) client.pipe(upstream);
    upstream.once('end', () => client.end());
  });
}

// The agent and the namespace helper answer only once the server in the container has accepted, so
// a refusal reaches the client as a reset, as on the direct path. The client's first bytes wait in
// its socket meanwhile.
async function relayInside(
  client: Socket,
  target: Extract<RelayTarget, { path: 'agent' | 'netns' }>,
  deps: RelayDeps,
): Promise<void> {
  const onClientError = () => client.destroy();
  client.on('error', onClientError);
  let upstream: Socket | null;
  try {
    upstream = await target.connect(client);
  } catch (error) {
    const through = target.path === 'agent' ? 'the relay agent' : "the container's namespace helper";
    deps.log?.(`cannot connect through ${through}`, { error: errorMessage(error) });
    reset(client);
    return;
  }
  if (upstream === null) {
    if (client.destroyed) return;
    client.off('error', onClientError);
    return fallBack(client, target.fallback, target.path, deps);
  }
  if (client.destroyed) {
    reset(upstream);
    return;
  }
  await new Promise<void>((resolve) => {
    settleWhenClosed(client, upstream, resolve);
    client.on('error', () => reset(upstream));
    upstream.on('error', () => reset(client));
    // The target's bytes already go to the client as they come (see RelayAgent.connect).
    client.pipe(upstream);
    if (upstream.readableEnded) client.end();
    else upstream.once('end', () => client.end());
  });
}

// As on the agent path, the target answers only once it has accepted: a refusal resets the client.
async function relayMux(
  client: Socket,
  target: Extract<RelayTarget, { path: 'mux' }>,
  deps: RelayDeps,
): Promise<void> {
  const onClientError = () => client.destroy();
  client.on('error', onClientError);
  let relayed: { finished: Promise<void> } | null;
  try {
    relayed = await target.relay(client);
  } catch (error) {
    deps.log?.('cannot connect through the mux channel', { error: errorMessage(error) });
    reset(client);
    return;
  }
  if (relayed === null) {
    if (client.destroyed) return;
    client.off('error', onClientError);
    return fallBack(client, target.fallback, 'mux', deps);
  }
  await relayed.finished;
}

/** A path that cannot run after all gives the connection to the next, or resets it when none is left. */
function fallBack(
  client: Socket,
  fallback: InsideTarget | null,
  from: RelayTarget['path'],
  deps: RelayDeps,
): Promise<void> {
  if (fallback !== null) return relayConnection(client, fallback, deps);
  deps.log?.(`no path into the container: the ${from} path cannot run and it has no relay program`);
  reset(client);
  return Promise.resolve();
}
