/*
 * portpilot's UDP relay for a forward whose datagrams go straight to the container's address: the
 * in-process relay's work (udp-relay.ts) without a JavaScript turn per datagram. One process per
 * forward, never one per client; the forwarder compiles it (with sessions.c) on first use
 * (native-udp-build.ts) and relays in-process where no C compiler is found.
 *
 *   udp-relay BIND_ADDRESS PORT IDLE_MS MAX_SESSIONS
 *
 * Binds BIND_ADDRESS:PORT (PORT 0: any) and, for 127.0.0.1, [::1] on the same port where the host
 * has IPv6, then prints one line: "bound PORT ADDRESS [ADDRESS]", "taken CODE" (the caller picks
 * another port) or "error ADDRESS CODE". Standard input then says where datagrams go, a line each:
 * "target ADDRESS PORT", or "none" (dropped until a target comes); it ends the relay when it closes,
 * so the relay never outlives its forwarder. Each client address is a session: a socket of its own
 * connected to the target (the server sees distinct clients as distinct peers, and the kernel passes
 * it only the server's replies), ended after IDLE_MS without a datagram either way; past
 * MAX_SESSIONS the idlest makes way. A new target ends every session.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sessions.h"

#define EV_STDIN (-1)
#define EV_HOST0 (-2)
#define EV_HOST1 (-3)
#define MAX_EVENTS 64

static int host_fds[2] = {-1, -1};
static int host_count;
static int epoll_fd;
static struct sockaddr_storage target;
static socklen_t target_len; /* 0: no target */
static unsigned char datagram[65536];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_address(const char *text, int port, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return 0;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
    return 0;
  }
  return -1;
}

/* Datagrams from clients, to each one's session. */
static void from_clients(int host) {
  for (;;) {
    struct sockaddr_storage client;
    socklen_t len = sizeof client;
    ssize_t n = recvfrom(host_fds[host], datagram, sizeof datagram, 0, (struct sockaddr *)&client, &len);
    if (n < 0) return; /* EAGAIN: all read; anything else: the next wake-up tries again */
    if (target_len == 0) continue;
    int64_t now = now_ms();
    int index = session_find(&client, len, host);
    if (index < 0) index = session_open(&client, len, host, now, epoll_fd, &target, target_len);
    if (index < 0) continue;
    struct session *s = session_at(index);
    s->last_active = now;
    /* A refused send (ICMP from a server that went away) keeps the session, as a connected socket in
       the in-process relay does: the next datagram may find the server back. */
    (void)send(s->fd, datagram, (size_t)n, 0);
  }
}

/* The server's replies on one session, to its client alone. */
static void from_server(int index) {
  struct session *s = session_at(index);
  for (;;) {
    if (s->fd < 0) return;
    ssize_t n = recv(s->fd, datagram, sizeof datagram, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == ECONNREFUSED || errno == EINTR) continue;
      session_end(index);
      return;
    }
    s->last_active = now_ms();
    (void)sendto(host_fds[s->host], datagram, (size_t)n, 0, (struct sockaddr *)&s->client, s->client_len);
  }
}

static void set_target(const char *line) {
  char address[64];
  int port;
  struct sockaddr_storage next;
  socklen_t next_len = 0;
  if (strcmp(line, "none") != 0) {
    if (sscanf(line, "target %63s %d", address, &port) != 2 || port < 1 || port > 65535 ||
        parse_address(address, port, &next, &next_len) != 0) {
      fprintf(stderr, "udp-relay: ignored a command it does not know: %s\n", line);
      return;
    }
  }
  if (next_len == target_len && memcmp(&next, &target, next_len) == 0) return;
  sessions_end_all();
  target_len = next_len;
  if (next_len) memcpy(&target, &next, next_len);
}

/* Commands on standard input; returns 0 once it has closed. */
static int from_forwarder(void) {
  static char pending[4096];
  static size_t used;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, pending + used, sizeof pending - 1 - used);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 1 : 0;
    used += (size_t)n;
    pending[used] = '\0';
    char *start = pending, *newline;
    while ((newline = strchr(start, '\n')) != NULL) {
      *newline = '\0';
      set_target(start);
      start = newline + 1;
    }
    used = (size_t)(pending + used - start);
    memmove(pending, start, used);
    if (used == sizeof pending - 1) used = 0; /* a line that long is no command */
  }
}

static const char *error_code(int error) {
  switch (error) {
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    default: return "EIO";
  }
}

/* Binds one host socket; returns its fd, or -errno. */
static int bind_host(const char *address, int port) {
  struct sockaddr_storage where;
  socklen_t len;
  if (parse_address(address, port, &where, &len) != 0) return -EINVAL;
  int fd = socket(where.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int on = 1;
  if (where.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  size_buffers(fd);
  if (bind(fd, (struct sockaddr *)&where, len) != 0) {
    int error = errno;
    close(fd);
    return -error;
  }
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_storage where;
  socklen_t len = sizeof where;
  getsockname(fd, (struct sockaddr *)&where, &len);
  return ntohs(where.ss_family == AF_INET ? ((struct sockaddr_in *)&where)->sin_port
                                          : ((struct sockaddr_in6 *)&where)->sin6_port);
}

static void watch(int fd, int64_t tag) {
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = (uint64_t)tag};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: udp-relay BIND_ADDRESS PORT IDLE_MS MAX_SESSIONS\n");
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  const char *bind_address = argv[1];
  int port = atoi(argv[2]);
  int64_t idle_ms = atoll(argv[3]);
  int max_sessions = atoi(argv[4]);
  if (port < 0 || port > 65535 || idle_ms < 1 || max_sessions < 1) {
    fprintf(stderr, "udp-relay: bad arguments\n");
    return 2;
  }
  if (sessions_init(max_sessions, idle_ms) != 0) return 1;

  int first = bind_host(bind_address, port);
  if (first < 0) {
    int error = -first;
    if (error == EADDRINUSE || error == EACCES) printf("taken %s\n", error_code(error));
    else printf("error %s %s\n", bind_address, error_code(error));
    return 0;
  }
  host_fds[host_count++] = first;
  port = bound_port(first);
  if (strcmp(bind_address, "127.0.0.1") == 0) {
    int second = bind_host("::1", port);
    if (second >= 0) host_fds[host_count++] = second;
    else if (-second != EADDRNOTAVAIL && -second != EAFNOSUPPORT) {
      if (-second == EADDRINUSE || -second == EACCES) printf("taken %s\n", error_code(-second));
      else printf("error ::1 %s\n", error_code(-second));
      return 0;
    }
  }
  printf("bound %d %s%s\n", port, bind_address, host_count == 2 ? " ::1" : "");
  fflush(stdout);

  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  watch(STDIN_FILENO, EV_STDIN);
  watch(host_fds[0], EV_HOST0);
  if (host_count == 2) watch(host_fds[1], EV_HOST1);

  int64_t sweep_ms = idle_ms / 2 < 5000 ? idle_ms / 2 : 5000;
  if (sweep_ms < 100) sweep_ms = 100;
  int64_t next_sweep = now_ms() + sweep_ms;
  for (;;) {
    struct epoll_event events[MAX_EVENTS];
    int64_t wait = next_sweep - now_ms();
    int n = epoll_wait(epoll_fd, events, MAX_EVENTS, wait < 0 ? 0 : (int)wait);
    if (n < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; i++) {
      int64_t tag = (int64_t)events[i].data.u64;
      if (tag == EV_STDIN) {
        if (!from_forwarder()) return 0;
      } else if (tag == EV_HOST0) from_clients(0);
      else if (tag == EV_HOST1) from_clients(1);
      else from_server((int)tag);
    }
    int64_t now = now_ms();
    if (now >= next_sweep) {
      sessions_end_idle(now);
      next_sweep = now + sweep_ms;
    }
  }
}
