/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the stress, fault-injection and security tests
 * (stress.c, faults.c, security.c):
 *
 * - an "auto broker": a small scripted MQTT broker in the test process
 *   (a thread) or in a child process, serving any number of connections
 *   from one epoll loop.  It answers CONNECT with CONNACK 0, acknowledges
 *   QoS 1/2 PUBLISHes (unless told not to), PUBREL, SUBSCRIBE,
 *   UNSUBSCRIBE and PINGREQ, can echo PUBLISHes back to a subscribed
 *   sender as QoS 0, and checks every PUBLISH topic against a list of
 *   topics the client may use;
 * - kernel accounting: active objects of a slab cache (the module's
 *   sockets come from the cache named "MQTT") and /proc/net/sockstat;
 * - a one-connection scripted peer (listen, accept, CONNECT/CONNACK,
 *   packets) for tests that need exact control of the broker's answers.
 *
 * Include after mqtt_test.h.  Nothing here ASSERTs, so the broker can run
 * in any thread; functions return 0 or an errno.
 */
#ifndef MQTT_AUTOBROKER_H
#define MQTT_AUTOBROKER_H

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "mqtt_test.h"

#define AB_MAX_TOPICS	8

struct ab_conn {
	int fd;
	bool subscribed;
	uint8_t *buf;
	size_t len, cap;
};

struct autobroker {
	/* Set before ab_start(). */
	bool no_ack;		/* do not acknowledge PUBLISH (keep in flight) */
	bool echo;		/* echo PUBLISH to a subscribed sender (QoS 0) */
	int delay_ms;		/* wait this long before every answer */
	uint8_t greet[64];	/* sent with the CONNACK, in the same write */
	size_t greet_len;
	int ntopics;		/* > 0: PUBLISH topics must be one of these */
	const char *topics[AB_MAX_TOPICS];

	/* Filled by ab_start(). */
	struct sockaddr_in addr;
	int lfd, epfd, stop[2];
	pthread_t thread;
	pid_t pid;		/* child process, or 0 for a thread */

	/* Counters, updated by the broker (atomics). */
	int conns, connects, publishes, bad_topics, disconnects, errors;
	int live;		/* connections open now */
	char bad[64];		/* the first bad topic seen, hex */
};

static inline void ab_inc(int *v)
{
	__atomic_add_fetch(v, 1, __ATOMIC_RELAXED);
}

static inline int ab_get(int *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* Blocking write of a whole small packet to a non-blocking socket. */
static inline int ab_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int64_t deadline = now_ms() + PEER_TIMEOUT_MS;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (now_ms() > deadline)
				return ETIMEDOUT;
			poll(&pfd, 1, 100);
			continue;
		}
		if (n < 0)
			return errno;
		p += n;
		len -= n;
	}
	return 0;
}

static inline bool ab_topic_ok(struct autobroker *ab, const uint8_t *t,
			       size_t len)
{
	int i;

	if (!ab->ntopics)
		return true;
	for (i = 0; i < ab->ntopics; i++)
		if (strlen(ab->topics[i]) == len &&
		    !memcmp(ab->topics[i], t, len))
			return true;
	return false;
}

/* One whole packet of c: answer it.  Returns false to close c. */
static inline bool ab_packet(struct autobroker *ab, struct ab_conn *c,
			     const uint8_t *p, size_t hdr, size_t rem)
{
	const uint8_t *b = p + hdr;
	uint8_t out[8];
	uint8_t type = p[0] >> 4;
	int qos;

	if (ab->delay_ms && type != 14)
		usleep(ab->delay_ms * 1000);
	switch (type) {
	case 1:		/* CONNECT */
		ab_inc(&ab->connects);
		if (ab->greet_len) {
			uint8_t g[4 + sizeof(ab->greet)] = { 0x20, 2, 0, 0 };

			memcpy(g + 4, ab->greet, ab->greet_len);
			return !ab_write(c->fd, g, 4 + ab->greet_len);
		}
		out[0] = 0x20; out[1] = 2; out[2] = 0; out[3] = 0;
		return !ab_write(c->fd, out, 4);
	case 3: {	/* PUBLISH */
		bool topic_ok;
		size_t tl, off;

		ab_inc(&ab->publishes);
		qos = (p[0] >> 1) & 3;
		if (rem < 2)
			goto bad;
		tl = b[0] << 8 | b[1];
		off = 2 + tl + (qos ? 2 : 0);
		if (off > rem || qos == 3)
			goto bad;
		topic_ok = ab_topic_ok(ab, b + 2, tl);
		if (!topic_ok) {
			size_t i, n = 0;

			if (ab_get(&ab->bad_topics) == 0)
				for (i = 0; i < tl && n + 3 < sizeof(ab->bad);
				     i++)
					n += snprintf(ab->bad + n,
						      sizeof(ab->bad) - n,
						      "%02x", b[2 + i]);
			ab_inc(&ab->bad_topics);
		}
		if (qos && !ab->no_ack) {
			out[0] = qos == 1 ? 0x40 : 0x50;
			out[1] = 2;
			out[2] = b[2 + tl];
			out[3] = b[3 + tl];
			if (ab_write(c->fd, out, 4))
				return false;
		}
		/* A bad topic is not echoed: it would end the session. */
		if (ab->echo && c->subscribed && topic_ok) {
			uint8_t *e = malloc(5 + rem);
			size_t n = 0;
			bool ok;

			if (!e)
				return false;
			e[n++] = 0x30;
			n += put_varint(e + n, rem - (qos ? 2 : 0));
			memcpy(e + n, b, 2 + tl);
			n += 2 + tl;
			memcpy(e + n, b + off, rem - off);
			n += rem - off;
			ok = !ab_write(c->fd, e, n);
			free(e);
			return ok;
		}
		return true;
	}
	case 6:		/* PUBREL */
		if (rem != 2)
			goto bad;
		out[0] = 0x70; out[1] = 2; out[2] = b[0]; out[3] = b[1];
		return !ab_write(c->fd, out, 4);
	case 8:		/* SUBSCRIBE: one filter, granted as asked */
		if (rem < 5)
			goto bad;
		c->subscribed = true;
		out[0] = 0x90; out[1] = 3; out[2] = b[0]; out[3] = b[1];
		out[4] = b[rem - 1];
		return !ab_write(c->fd, out, 5);
	case 10:	/* UNSUBSCRIBE */
		if (rem < 2)
			goto bad;
		out[0] = 0xb0; out[1] = 2; out[2] = b[0]; out[3] = b[1];
		return !ab_write(c->fd, out, 4);
	case 12:	/* PINGREQ */
		out[0] = 0xd0; out[1] = 0;
		return !ab_write(c->fd, out, 2);
	case 14:	/* DISCONNECT */
		ab_inc(&ab->disconnects);
		return false;
	case 4: case 5: case 7:	/* acks of an echo: none is QoS 1/2 */
	default:
		break;
	}
bad:
	ab_inc(&ab->errors);
	return false;
}

/* Parse what c holds; false to close it. */
static inline bool ab_parse(struct autobroker *ab, struct ab_conn *c)
{
	size_t off = 0;

	for (;;) {
		size_t avail = c->len - off, rem = 0, n = 1;
		int shift = 0;

		if (avail < 2)
			break;
		while (n < avail && n < 5) {
			rem |= (size_t)(c->buf[off + n] & 0x7f) << shift;
			shift += 7;
			if (!(c->buf[off + n++] & 0x80))
				goto header;
		}
		if (n == 5) {
			ab_inc(&ab->errors);
			return false;
		}
		break;
header:
		if (avail < n + rem)
			break;
		if (!ab_packet(ab, c, c->buf + off, n, rem))
			return false;
		off += n + rem;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return true;
}

static inline void ab_close_conn(struct autobroker *ab, struct ab_conn *c)
{
	epoll_ctl(ab->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c);
	__atomic_sub_fetch(&ab->live, 1, __ATOMIC_RELAXED);
}

static inline bool ab_read(struct autobroker *ab, struct ab_conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 8192;
			uint8_t *b = realloc(c->buf, cap);

			if (!b)
				return false;
			c->buf = b;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len,
			 MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN;
		c->len += n;
		if (!ab_parse(ab, c))
			return false;
	}
}

static inline void ab_loop(struct autobroker *ab)
{
	struct epoll_event ev[64];
	struct ab_conn **all = NULL;
	size_t nall = 0, i;

	for (;;) {
		int n = epoll_wait(ab->epfd, ev, 64, 1000);

		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; i < (size_t)(n > 0 ? n : 0); i++) {
			void *ptr = ev[i].data.ptr;

			if (ptr == &ab->stop)
				goto out;
			if (ptr == &ab->lfd) {
				int fd;

				while ((fd = accept4(ab->lfd, NULL, NULL,
						     SOCK_NONBLOCK)) >= 0) {
					struct ab_conn *c = calloc(1, sizeof(*c));
					struct epoll_event e = { .events = EPOLLIN };
					int one = 1;

					if (!c) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
						   &one, sizeof(one));
					c->fd = fd;
					e.data.ptr = c;
					epoll_ctl(ab->epfd, EPOLL_CTL_ADD, fd, &e);
					ab_inc(&ab->conns);
					ab_inc(&ab->live);
					/* Remember it, to close at stop. */
					all = realloc(all, (nall + 1) * sizeof(*all));
					if (all)
						all[nall++] = c;
				}
				continue;
			}
			if (!ab_read(ab, ptr)) {
				struct ab_conn *c = ptr;
				size_t j;

				for (j = 0; j < nall; j++)
					if (all[j] == c)
						all[j] = all[--nall];
				ab_close_conn(ab, c);
			}
		}
	}
out:
	for (i = 0; i < nall; i++)
		ab_close_conn(ab, all[i]);
	free(all);
}

static inline void *ab_main(void *arg)
{
	ab_loop(arg);
	return NULL;
}

/* Listen on 127.0.0.1 (any port) and serve; in a child if @process. */
static inline int ab_start(struct autobroker *ab, bool process)
{
	struct epoll_event e = { .events = EPOLLIN };
	socklen_t len = sizeof(ab->addr);
	sigset_t all, old;
	int ret;

	ab->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (ab->lfd < 0)
		return errno;
	memset(&ab->addr, 0, sizeof(ab->addr));
	ab->addr.sin_family = AF_INET;
	ab->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ab->lfd, (struct sockaddr *)&ab->addr, len) ||
	    listen(ab->lfd, 4096) ||
	    getsockname(ab->lfd, (struct sockaddr *)&ab->addr, &len))
		return errno;
	ab->epfd = epoll_create1(0);
	if (ab->epfd < 0 || pipe(ab->stop))
		return errno;
	e.data.ptr = &ab->lfd;
	epoll_ctl(ab->epfd, EPOLL_CTL_ADD, ab->lfd, &e);
	e.data.ptr = &ab->stop;
	epoll_ctl(ab->epfd, EPOLL_CTL_ADD, ab->stop[0], &e);
	ab->pid = 0;
	if (process) {
		/* ab is shared: only the parent may write the pid. */
		pid_t pid = fork();

		if (pid < 0)
			return errno;
		if (!pid) {
			ab_loop(ab);
			_exit(0);
		}
		ab->pid = pid;
		/* The child reads these from the shared struct: keep them. */
		close(ab->lfd);
		close(ab->epfd);
		return 0;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&ab->thread, NULL, ab_main, ab);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* Stop the broker (SIGKILL for a child) and close everything it held. */
static inline void ab_stop(struct autobroker *ab)
{
	if (ab->pid > 0) {
		kill(ab->pid, SIGKILL);
		waitpid(ab->pid, NULL, 0);
		ab->pid = 0;
		ab->epfd = -1;
	} else if (ab->epfd >= 0) {
		if (write(ab->stop[1], "s", 1) == 1)
			pthread_join(ab->thread, NULL);
		close(ab->lfd);
		close(ab->epfd);
		ab->epfd = -1;
	}
	close(ab->stop[0]);
	close(ab->stop[1]);
}

/* A zeroed broker in shared memory: a child's counters stay visible. */
static inline struct autobroker *ab_new(void)
{
	struct autobroker *ab = mmap(NULL, sizeof(*ab), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (ab == MAP_FAILED)
		return NULL;
	ab->lfd = ab->epfd = ab->stop[0] = ab->stop[1] = -1;
	return ab;
}

static inline void ab_free(struct autobroker *ab)
{
	if (ab)
		munmap(ab, sizeof(*ab));
}

/* ---------------------------------------------------------------------- */
/* Kernel accounting                                                       */
/* ---------------------------------------------------------------------- */

/*
 * Free what the allocator holds back: SLUB counts the free objects of
 * the slabs a CPU holds as active (a CPU taking one partial slab moves
 * the count by a slab's worth), and KASAN's quarantine keeps freed
 * objects counted until the cache is shrunk.
 */
static inline void slab_shrink(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) < 0)
		perror(path);
	close(fd);
}

/*
 * Active objects of a slab cache, shrunk first so that they are the
 * objects in use: /proc/slabinfo, or with SLUB's merging the cache it was
 * merged into (/sys/kernel/slab/NAME/objects).  -1 if neither can be
 * read.
 */
static inline long slab_active(const char *name)
{
	char line[512], path[256], cname[128];
	long active = -1;
	FILE *f;

	slab_shrink(name);
	f = fopen("/proc/slabinfo", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			long a;

			if (sscanf(line, "%127s %ld", cname, &a) == 2 &&
			    !strcmp(cname, name)) {
				active = a;
				break;
			}
		}
		fclose(f);
	}
	if (active >= 0)
		return active;
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/objects", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &active) != 1)
		active = -1;
	fclose(f);
	return active;
}

/* A field of a /proc/net/sockstat line, e.g. ("TCP:", "inuse"). */
static inline long sockstat(const char *proto, const char *field)
{
	char line[512], *tok, *save;
	long val = -1;
	FILE *f = fopen("/proc/net/sockstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		tok = strtok_r(line, " \n", &save);
		if (!tok || strcmp(tok, proto))
			continue;
		while ((tok = strtok_r(NULL, " \n", &save))) {
			char *v = strtok_r(NULL, " \n", &save);

			if (v && !strcmp(tok, field)) {
				val = atol(v);
				break;
			}
		}
		break;
	}
	fclose(f);
	return val;
}

/* ---------------------------------------------------------------------- */
/* A one-connection scripted peer                                          */
/* ---------------------------------------------------------------------- */

struct peer {
	int lfd, pfd;
	struct sockaddr_in addr;
};

static inline int peer_listen(struct peer *p)
{
	socklen_t len = sizeof(p->addr);

	p->pfd = -1;
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (p->lfd < 0)
		return errno;
	memset(&p->addr, 0, sizeof(p->addr));
	p->addr.sin_family = AF_INET;
	p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(p->lfd, (struct sockaddr *)&p->addr, len) ||
	    listen(p->lfd, 16) ||
	    getsockname(p->lfd, (struct sockaddr *)&p->addr, &len))
		return errno;
	return 0;
}

static inline void peer_close(struct peer *p)
{
	if (p->pfd >= 0)
		close(p->pfd);
	if (p->lfd >= 0)
		close(p->lfd);
	p->pfd = p->lfd = -1;
}

/* Read exactly len bytes within the peer timeout: 0 or an errno. */
static inline int peer_read(int fd, void *buf, size_t len)
{
	int64_t deadline = now_ms() + PEER_TIMEOUT_MS;
	uint8_t *b = buf;

	while (len) {
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || !wait_readable(fd, left))
			return ETIMEDOUT;
		n = recv(fd, b, len, 0);
		if (n == 0)
			return EPIPE;
		if (n < 0)
			return errno;
		b += n;
		len -= n;
	}
	return 0;
}

/* Read one packet into buf (cap bytes): its length, or -errno. */
static inline ssize_t peer_packet(int fd, uint8_t *buf, size_t cap)
{
	size_t n = 1, rem = 0;
	int shift = 0, err;

	err = peer_read(fd, buf, 1);
	if (err)
		return -err;
	do {
		if (n == 5 || n >= cap)
			return -EPROTO;
		err = peer_read(fd, buf + n, 1);
		if (err)
			return -err;
		rem |= (size_t)(buf[n] & 0x7f) << shift;
		shift += 7;
	} while (buf[n++] & 0x80);
	if (n + rem > cap)
		return -EMSGSIZE;
	err = peer_read(fd, buf + n, rem);
	return err ? -err : (ssize_t)(n + rem);
}

/* Accept the client, read its CONNECT; answer CONNACK 0 if @ack. */
static inline int peer_accept(struct peer *p, bool ack)
{
	static const uint8_t connack[] = { 0x20, 0x02, 0x00, 0x00 };
	uint8_t buf[512];
	ssize_t n;
	int one = 1;

	if (!wait_readable(p->lfd, PEER_TIMEOUT_MS))
		return ETIMEDOUT;
	p->pfd = accept(p->lfd, NULL, NULL);
	if (p->pfd < 0)
		return errno;
	setsockopt(p->pfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n = peer_packet(p->pfd, buf, sizeof(buf));
	if (n < 0)
		return -n;
	if (buf[0] != 0x10)
		return EPROTO;
	if (ack && send(p->pfd, connack, sizeof(connack), MSG_NOSIGNAL) !=
		   sizeof(connack))
		return errno;
	return 0;
}

/* Wait until the client closed TCP: 0 (FIN or RST) or ETIMEDOUT. */
static inline int peer_wait_closed(int fd)
{
	int64_t deadline = now_ms() + PEER_TIMEOUT_MS;
	uint8_t tmp[256];

	for (;;) {
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || !wait_readable(fd, left))
			return ETIMEDOUT;
		n = recv(fd, tmp, sizeof(tmp), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0)
			return errno;
	}
}

/* An AF_MQTT socket connected (blocking) to addr with keepalive 0. */
static inline int mqtt_connected_to(const struct sockaddr_in *addr,
				    const char *client_id)
{
	int fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
	int zero = 0, tmo = TEST_CONNECT_TIMEOUT_MS;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_MQTT, MQTT_KEEPALIVE, &zero, sizeof(zero));
	setsockopt(fd, SOL_MQTT, MQTT_CONNECT_TIMEOUT, &tmo, sizeof(tmo));
	if (client_id)
		setsockopt(fd, SOL_MQTT, MQTT_CLIENT_ID, client_id,
			   strlen(client_id));
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr))) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

#endif /* MQTT_AUTOBROKER_H */
