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
 *
 * The broker is built on peer.h: its listener, Remaining Length decoder,
 * packet names, builders and parser, and its helper thread; tests that
 * need exact control of the broker's answers use peer.h's struct peer.
 * Nothing here ASSERTs, so the broker can run in any thread; functions
 * return 0 or an errno.
 */
#ifndef MQTT_AUTOBROKER_H
#define MQTT_AUTOBROKER_H

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "peer.h"

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
	uint8_t type = PKT_TYPE(p[0]);
	struct publish pub;
	uint8_t out[8];

	if (ab->delay_ms && type != DISCONNECT)
		usleep(ab->delay_ms * 1000);
	switch (type) {
	case CONNECT:
		ab_inc(&ab->connects);
		if (ab->greet_len) {
			uint8_t g[4 + sizeof(ab->greet)];

			build_connack(g, 0, 0);
			memcpy(g + 4, ab->greet, ab->greet_len);
			return !ab_write(c->fd, g, 4 + ab->greet_len);
		}
		return !ab_write(c->fd, out, build_connack(out, 0, 0));
	case PUBLISH: {
		int qos = PUB_QOS_OF(p[0]);
		bool topic_ok;

		ab_inc(&ab->publishes);
		if (!parse_publish(p, hdr, hdr + rem, &pub))
			goto bad;
		topic_ok = ab_topic_ok(ab, pub.topic, pub.topic_len);
		if (!topic_ok) {
			size_t i, n = 0;

			if (ab_get(&ab->bad_topics) == 0)
				for (i = 0; i < pub.topic_len &&
					    n + 3 < sizeof(ab->bad); i++)
					n += snprintf(ab->bad + n,
						      sizeof(ab->bad) - n,
						      "%02x", pub.topic[i]);
			ab_inc(&ab->bad_topics);
		}
		if (qos && !ab->no_ack &&
		    ab_write(c->fd, out, build_ack(out, qos == 1 ? PUBACK :
							PUBREC, pub.id)))
			return false;
		/* A bad topic is not echoed: it would end the session. */
		if (ab->echo && c->subscribed && topic_ok) {
			uint8_t *e = malloc(5 + rem);
			bool ok;

			if (!e)
				return false;
			ok = !ab_write(c->fd, e,
				       build_publish(e, PUBLISH, pub.topic,
						     pub.topic_len, 0,
						     pub.payload,
						     pub.payload_len));
			free(e);
			return ok;
		}
		return true;
	}
	case PKT_TYPE(PUBREL):
		if (rem != 2)
			goto bad;
		return !ab_write(c->fd, out,
				 build_ack(out, PUBCOMP, b[0] << 8 | b[1]));
	case PKT_TYPE(SUBSCRIBE):	/* one filter, granted as asked */
		if (rem < 5)
			goto bad;
		c->subscribed = true;
		out[0] = SUBACK; out[1] = 3; out[2] = b[0]; out[3] = b[1];
		out[4] = b[rem - 1];
		return !ab_write(c->fd, out, 5);
	case PKT_TYPE(UNSUBSCRIBE):
		if (rem < 2)
			goto bad;
		return !ab_write(c->fd, out,
				 build_ack(out, UNSUBACK, b[0] << 8 | b[1]));
	case PINGREQ:
		out[0] = PINGRESP; out[1] = 0;
		return !ab_write(c->fd, out, 2);
	case DISCONNECT:
		ab_inc(&ab->disconnects);
		return false;
	case PUBACK: case PUBREC: case PUBCOMP:	/* acks of an echo: none */
	default:					/* is QoS 1/2 */
		break;
	}
bad:
	ab_inc(&ab->errors);
	return false;
}

/* Parse what c holds; false to close it. */
static inline bool ab_parse(struct autobroker *ab, struct ab_conn *c)
{
	size_t off = 0, hdr, rem;
	int whole;

	while ((whole = remlen_decode(c->buf + off, c->len - off, &hdr,
				      &rem)) > 0 &&
	       c->len - off >= hdr + rem) {
		if (!ab_packet(ab, c, c->buf + off, hdr, rem))
			return false;
		off += hdr + rem;
	}
	if (whole < 0) {
		ab_inc(&ab->errors);
		return false;
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
	union peer_addr addr;
	socklen_t len;
	int fd;

	fd = loopback_listen(AF_INET, SOCK_NONBLOCK, 4096, &addr, &len);
	if (fd < 0)
		return -fd;
	ab->lfd = fd;
	ab->addr = addr.in;
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
	return start_thread(&ab->thread, ab_main, ab);
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
/* Sessions with the auto broker                                           */
/* ---------------------------------------------------------------------- */

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
