/* The native UDP relay's session table: see sessions.h. */
#define _GNU_SOURCE
#include "sessions.h"

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BUFFER_BYTES (4 * 1024 * 1024)
#define BUCKETS 4096

static struct session *sessions;
static int max_sessions, live_sessions;
static int64_t idle_after_ms;
static int buckets[BUCKETS];

int sessions_init(int max, int64_t idle_ms) {
  sessions = calloc((size_t)max, sizeof *sessions);
  if (!sessions) return -1;
  max_sessions = max;
  idle_after_ms = idle_ms;
  for (int i = 0; i < max; i++) sessions[i].fd = -1;
  for (int i = 0; i < BUCKETS; i++) buckets[i] = -1;
  return 0;
}

struct session *session_at(int index) {
  return &sessions[index];
}

void size_buffers(int fd) {
  int bytes = BUFFER_BYTES;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

static unsigned hash_client(const struct sockaddr_storage *client, socklen_t len, int host) {
  const unsigned char *bytes = (const unsigned char *)client;
  unsigned h = 2166136261u ^ (unsigned)host;
  for (socklen_t i = 0; i < len; i++) h = (h ^ bytes[i]) * 16777619u;
  return h % BUCKETS;
}

int session_find(const struct sockaddr_storage *client, socklen_t len, int host) {
  for (int i = buckets[hash_client(client, len, host)]; i != -1; i = sessions[i].next) {
    const struct session *s = &sessions[i];
    if (s->host == host && s->client_len == len && memcmp(&s->client, client, len) == 0) return i;
  }
  return -1;
}

void session_end(int index) {
  struct session *s = &sessions[index];
  if (s->fd < 0) return;
  for (int *link = &buckets[hash_client(&s->client, s->client_len, s->host)]; *link != -1;
       link = &sessions[*link].next) {
    if (*link == index) {
      *link = s->next;
      break;
    }
  }
  close(s->fd); /* also leaves the epoll set */
  s->fd = -1;
  live_sessions--;
}

void sessions_end_all(void) {
  for (int i = 0; i < max_sessions; i++) session_end(i);
}

void sessions_end_idle(int64_t now) {
  for (int i = 0; i < max_sessions; i++)
    if (sessions[i].fd >= 0 && now - sessions[i].last_active >= idle_after_ms) session_end(i);
}

static void end_idlest(void) {
  int idlest = -1;
  for (int i = 0; i < max_sessions; i++)
    if (sessions[i].fd >= 0 && (idlest < 0 || sessions[i].last_active < sessions[idlest].last_active))
      idlest = i;
  if (idlest >= 0) session_end(idlest);
}

int session_open(const struct sockaddr_storage *client, socklen_t len, int host, int64_t now, int epoll_fd,
                 const struct sockaddr_storage *target, socklen_t target_len) {
  if (live_sessions >= max_sessions) end_idlest();
  int index = -1;
  for (int i = 0; i < max_sessions && index < 0; i++)
    if (sessions[i].fd < 0) index = i;
  if (index < 0) return -1;
  int fd = socket(target->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  size_buffers(fd);
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = (uint64_t)index};
  if (connect(fd, (const struct sockaddr *)target, target_len) != 0 ||
      epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    close(fd);
    return -1;
  }
  struct session *s = &sessions[index];
  memcpy(&s->client, client, len);
  s->client_len = len;
  s->host = host;
  s->fd = fd;
  s->last_active = now;
  unsigned bucket = hash_client(client, len, host);
  s->next = buckets[bucket];
  buckets[bucket] = index;
  live_sessions++;
  return index;
}
