// The namespace helper: a small program the forwarder starts once per container with
// `nsenter --target <container init> --net -- node netns-helper.js`, holding a Node IPC channel to it.
// It runs in the container's network namespace but on the host's filesystem and with the host's
// node, so it needs nothing in the image. For each `connect` request it dials the address there
// (the container's own loopback, say) and sends the connected socket back over the channel: Node
// passes the descriptor with SCM_RIGHTS, and the forwarder relays its client straight to it, with no
// process and no extra hop per connection. For a `udp` request it binds a UDP socket there and sends
// that back the same way: the forwarder sends a client's datagrams through it to a server on the
// container's loopback. It imports nothing but node:net and node:dgram: it starts in ~40 ms.
import { createSocket } from 'node:dgram';
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import { HELPER_READY, isHelperRequest, type HelperAccepted, type HelperReply } from './helper-protocol.js';

const send = process.send?.bind(process);
if (send === undefined) {
  process.stderr.write('netns-helper: started without an IPC channel; it is run by the forwarder only\n');
  process.exit(2);
}

// As the forwarder's own UDP sockets (see udp-relay.ts): room for bursts of large datagrams.
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

// The forwarder's end of the channel closed (it exited, or was killed): nothing is left to serve.
process.on('disconnect', () => process.exit(0));
// A send to a forwarder that has just gone fails with EPIPE: the disconnect above ends this process.
process.on('error', () => undefined);

/** The listeners `listen` requests made, by request id. */
const listeners = new Map<number, Server>();

process.on('message', (message: unknown) => {
  if (!isHelperRequest(message)) {
    // A request it cannot read is answered, when it has an id, so that its caller does not wait forever.
    const id = (message as { id?: unknown } | null)?.id;
    if (Number.isSafeInteger(id))
      send({ id: id as number, error: 'not a request this helper serves' } satisfies HelperReply);
    return;
  }
  if (message.op === 'udp') {
    bindDatagramSocket(message.id, message.host);
    return;
  }
  if (message.op === 'close') {
    listeners.get(message.listen)?.close();
    listeners.delete(message.listen);
    send({ id: message.id } satisfies HelperReply);
    return;
  }
  if (message.op === 'listen') {
    listen(message.id, message.host, message.port);
    return;
  }
  const { id, host, port } = message;
  const socket: Socket = connect({ host, port, allowHalfOpen: true });
  // Not a byte is read here: the server's first bytes (a greeting) must reach the forwarder, and a
  // socket that started reading before it was sent would lose what it read.
  socket.pause();
  socket.once('connect', () => {
    const reply: HelperReply = { id };
    send(reply, socket, {}, (error) => {
      if (error) reportError(id, error);
      socket.destroy();
    });
  });
  socket.once('error', (error: NodeJS.ErrnoException) => {
    reportError(id, error);
    socket.destroy();
  });
});

// Running in the namespace: nsenter's setns() has worked.
send(HELPER_READY);

// Node starts reading a bound UDP socket at once, and this process would take (and drop) datagrams
// meant for the forwarder: it closes its copy as soon as the descriptor has gone over the channel.
// Nothing is sent to the socket before then: only the forwarder knows its port.
function bindDatagramSocket(id: number, host: string): void {
  const socket = createSocket({
    type: isIP(host) === 6 ? 'udp6' : 'udp4',
    recvBufferSize: UDP_BUFFER_BYTES,
    sendBufferSize: UDP_BUFFER_BYTES,
  });
  socket.once('error', (error: NodeJS.ErrnoException) => {
    reportError(id, error);
    socket.close();
  });
  socket.bind({ address: host, port: 0, exclusive: true }, () => {
    const reply: HelperReply = { id };
    send?.(reply, socket, {}, (error) => {
      if (error) reportError(id, error);
      socket.close();
    });
  });
}

// A reverse port: a listener in the container's namespace (its loopback, say) whose every accepted
// socket goes to the forwarder, which relays it to the host. As with connect, no byte is read here.
function listen(id: number, host: string, port: number): void {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    const accepted: HelperAccepted = { accepted: id };
    socket.on('error', () => socket.destroy());
    send?.(accepted, socket, {}, () => socket.destroy());
  });
  server.once('error', (error: NodeJS.ErrnoException) => {
    listeners.delete(id);
    reportError(id, error);
  });
  server.listen({ host, port, exclusive: true }, () => {
    listeners.set(id, server);
    send?.({ id } satisfies HelperReply);
  });
}

function reportError(id: number, error: NodeJS.ErrnoException): void {
  const reply: HelperReply = { id, error: error.message, code: error.code ?? null };
  if (process.connected) send?.(reply, undefined, {}, () => undefined);
}
