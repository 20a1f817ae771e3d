/*
 * The native UDP relay's sessions (see udp-relay.c): one per client address and host socket, each a
 * socket of its own connected to the target, found by a hash of the client's address.
 */
#ifndef PORTPILOT_UDP_SESSIONS_H
#define PORTPILOT_UDP_SESSIONS_H

#include <stdint.h>
#include <sys/socket.h>

struct session {
  struct sockaddr_storage client;
  socklen_t client_len;
  int host; /* index of the host socket it came in on */
  int fd;   /* -1: free */
  int64_t last_active;
  int next; /* next session in its bucket, -1 at the end */
};

/* Room for max sessions, each ended after idle_ms without a datagram; -1 if there is no memory. */
int sessions_init(int max, int64_t idle_ms);
/* The session at index (its fd is -1 once ended). */
struct session *session_at(int index);
/* The live session of this client on this host socket, or -1. */
int session_find(const struct sockaddr_storage *client, socklen_t len, int host);
/*
 * A new session toward target, its socket watched by epoll_fd with its index as the event's data;
 * past the cap the idlest session makes way. -1 if no socket could be made.
 */
int session_open(const struct sockaddr_storage *client, socklen_t len, int host, int64_t now, int epoll_fd,
                 const struct sockaddr_storage *target, socklen_t target_len);
void session_end(int index);
void sessions_end_all(void);
void sessions_end_idle(int64_t now);
/* Gives a socket room for bursts of large datagrams (the kernel caps it at net.core.rmem_max). */
void size_buffers(int fd);

#endif
