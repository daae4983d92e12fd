// SPDX-License-Identifier: GPL-2.0
/*
 * mqtt_bench contender: libmosquitto 2.0, the Eclipse Mosquitto client
 * library, driven from this thread's own poll/epoll loop.
 *
 * libmosquitto's own loops are mosquitto_loop() (select() on one client)
 * and mosquitto_loop_start() (a thread per client); neither is how a
 * process holding many sessions runs it, so every figure uses the
 * library's documented external-loop API instead: poll/epoll on
 * mosquitto_socket(), mosquitto_loop_read() when it is readable,
 * mosquitto_loop_write() when it is writable and mosquitto_want_write()
 * says a packet is queued, mosquitto_loop_misc() once a second for
 * keepalive.  Outside a callback and without threads the library writes a
 * packet the moment it is queued (PUBLISH, PUBACK, PINGREQ, DISCONNECT),
 * so the loop waits for POLLOUT only after the socket was full.  The
 * publish and receive figures set MOSQ_OPT_TCP_NODELAY, the library's
 * low-latency option, as AF_MQTT and the raw client turn Nagle off.
 *
 * Per figure:
 *  connect_once  mosquitto_new(), mosquitto_connect() (blocking TCP
 *                connect, CONNECT written at once), poll() and
 *                mosquitto_loop_read() until on_connect,
 *                mosquitto_disconnect() (writes DISCONNECT and closes),
 *                mosquitto_destroy().
 *  connect_many  mosquitto_new() and mosquitto_connect_async() for all @n
 *                inside the measurement (creating the client is part of
 *                starting it, as socket() is for AF_MQTT); CONNECT goes out
 *                as soon as the non-blocking socket takes it; one epoll
 *                loop until every on_connect.
 *  publish       mosquitto_publish() while the socket is not full and, for
 *                QoS 1, fewer than 64 messages are unacknowledged;
 *                MOSQ_OPT_SEND_MAXIMUM is 64 as well, so the library never
 *                holds a message back in its own queue (a list it walks
 *                linearly, so queueing all @n would cost O(n^2)).
 *                on_publish counts PUBACKs at QoS 1 and PUBLISHes
 *                completely written to the socket at QoS 0, so the
 *                measurement ends when the last PUBACK is in or the last
 *                byte is with the kernel.
 *  receive       on_message counts and checks the length; the library
 *                writes each QoS 1 PUBACK from inside mosquitto_loop_read().
 *                mosquitto_loop_read() handles only one packet per call
 *                when no QoS 1/2 flow of ours is open, so it is called
 *                again as long as it delivered a message, and poll() waits
 *                only once the socket is drained.
 *  idle          all @n sessions on one epoll loop (a single-threaded
 *                gateway), mosquitto_loop_misc() on every session once a
 *                second (mosquitto_loop()'s own tick), which sends PINGREQ
 *                when the keepalive is due.  libmosquitto refuses
 *                keepalives below 5 s (MOSQ_ERR_INVAL from every connect
 *                call), so this figure fails with -EINVAL for those.
 *  hold          not run: memory is compared on the kernel side only.
 *
 * Library costs that stay in the figures: every client opens a socketpair
 * besides its TCP socket (3 descriptors per session: 1,000 sessions need
 * RLIMIT_NOFILE above 3,000) and writes a byte to it for every packet it
 * queues (mosquitto_loop()'s wakeup); incoming fixed headers are read a
 * byte at a time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <mosquitto.h>
#include <openssl/ssl.h>

#include "bench.h"

#define MQ_KEEPALIVE	60	/* s, unless the figure says otherwise */
#define MQ_WINDOW	64	/* QoS 1 messages unacknowledged at most */
#define MQ_STALL_MS	30000	/* ms without any event: give up */
#define MQ_TICK_NS	1000000000ULL	/* loop_misc() period (idle) */
#define MQ_EVENTS	256	/* epoll_wait() batch */

struct mq_client {
	struct mosquitto *m;
	int connack;		/* -1 until the CONNACK, then its code */
	int suback;		/* -1 until the SUBACK, then granted QoS */
	int lost;		/* on_disconnect with an error */
	bool counted;		/* connect_many: CONNACK counted */
	uint32_t events;	/* epoll interest registered, 0 if none */
	int done;		/* on_publish calls */
	int received;		/* on_message calls */
	int bad;		/* messages of the wrong length */
	size_t len;		/* the length every message must have */
};

struct mq_set {
	struct mq_client *c;
	int n;
	int ep;			/* epoll instance */
	int started;		/* sessions whose connect began */
	int connected;		/* sessions with their CONNACK */
};

static bool mq_lib_ready;

/*
 * mosquitto_lib_init() once per process: connect_once runs many cycles in
 * one process and creating the library state is not part of a cycle.
 */
static void mq_lib_init(void)
{
	if (!mq_lib_ready) {
		mosquitto_lib_init();
		mq_lib_ready = true;
	}
}

static void mq_lib_cleanup(void)
{
	if (mq_lib_ready) {
		mosquitto_lib_cleanup();
		mq_lib_ready = false;
	}
}

/* Print why a libmosquitto call failed; return it as a negative errno. */
static int mq_err(const char *what, int rc)
{
	int err = errno;

	if (rc == MOSQ_ERR_ERRNO) {
		fprintf(stderr, "libmosquitto: %s: %s\n", what, strerror(err));
		return err ? -err : -EIO;
	}
	fprintf(stderr, "libmosquitto: %s: %s\n", what, mosquitto_strerror(rc));
	switch (rc) {
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_INVAL:
		return -EINVAL;
	case MOSQ_ERR_NO_CONN:
		return -ENOTCONN;
	case MOSQ_ERR_CONN_LOST:
		return -ECONNRESET;
	case MOSQ_ERR_CONN_REFUSED:
		return -ECONNREFUSED;
	case MOSQ_ERR_KEEPALIVE:
		return -ETIMEDOUT;
	case MOSQ_ERR_PROTOCOL:
	case MOSQ_ERR_MALFORMED_PACKET:
		return -EPROTO;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

static void mq_on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct mq_client *c = obj;

	(void)m;
	c->connack = rc;
}

static void mq_on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	struct mq_client *c = obj;

	(void)m;
	if (rc)
		c->lost = rc;
}

static void mq_on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct mq_client *c = obj;

	(void)m;
	(void)mid;
	c->done++;
}

static void mq_on_subscribe(struct mosquitto *m, void *obj, int mid,
			    int qos_count, const int *granted_qos)
{
	struct mq_client *c = obj;

	(void)m;
	(void)mid;
	c->suback = qos_count > 0 ? granted_qos[0] : 0x80;
}

static void mq_on_message(struct mosquitto *m, void *obj,
			  const struct mosquitto_message *msg)
{
	struct mq_client *c = obj;

	(void)m;
	c->received++;
	if (msg->payloadlen < 0 || (size_t)msg->payloadlen != c->len)
		c->bad++;
}

/* A client with the options and callbacks every figure uses. */
static int mq_new(struct bench_ctx *ctx, struct mq_client *c,
		  unsigned int i)
{
	char id[64];
	int rc;

	c->connack = -1;
	c->suback = -1;
	bench_client_id(ctx, i, id, sizeof(id));
	c->m = mosquitto_new(id, true, c);
	if (!c->m) {
		rc = errno ? -errno : -ENOMEM;
		fprintf(stderr, "libmosquitto: mosquitto_new: %s\n",
			strerror(-rc));
		return rc;
	}
	rc = mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION,
				  MQTT_PROTOCOL_V311);
	if (rc)
		return mq_err("MOSQ_OPT_PROTOCOL_VERSION", rc);
	/* TLS figures: the library's own OpenSSL, the broker verified. */
	if (ctx->tls) {
		rc = mosquitto_tls_set(c->m, ctx->tls_ca, NULL, NULL, NULL,
				       NULL);
		if (rc)
			return mq_err("mosquitto_tls_set", rc);
		rc = mosquitto_tls_opts_set(c->m, 1, "tlsv1.3", NULL);
		if (rc)
			return mq_err("mosquitto_tls_opts_set", rc);
	}
	mosquitto_connect_callback_set(c->m, mq_on_connect);
	mosquitto_disconnect_callback_set(c->m, mq_on_disconnect);
	mosquitto_publish_callback_set(c->m, mq_on_publish);
	mosquitto_subscribe_callback_set(c->m, mq_on_subscribe);
	mosquitto_message_callback_set(c->m, mq_on_message);
	return 0;
}

static void mq_broker(const struct bench_ctx *ctx, char *host, size_t size,
		      int *port)
{
	const struct sockaddr_in *b = ctx->tls ? &ctx->tls_broker :
						 &ctx->broker;

	inet_ntop(AF_INET, &b->sin_addr, host, size);
	*port = ntohs(b->sin_port);
}

/*
 * One round of the single-session loop: wait for the socket (POLLOUT only
 * while the library has something queued), then let the library write and
 * read.  With @drain, read again for as long as a message came in.
 */
static int mq_step(struct mq_client *c, bool drain)
{
	struct pollfd p = { .fd = mosquitto_socket(c->m), .events = POLLIN };
	int rc, before;
	SSL *ssl;

	if (p.fd < 0) {
		fprintf(stderr, "libmosquitto: connection lost (%s)\n",
			mosquitto_strerror(c->lost));
		return -ENOTCONN;
	}
	if (mosquitto_want_write(c->m))
		p.events |= POLLOUT;
	/* Records OpenSSL already read are not the socket's to report. */
	ssl = mosquitto_ssl_get(c->m);
	rc = ssl && SSL_pending(ssl) ? 1 : poll(&p, 1, MQ_STALL_MS);
	if (rc > 0 && ssl && SSL_pending(ssl))
		p.revents |= POLLIN;
	if (rc < 0) {
		rc = -errno;
		if (rc == -EINTR)
			return 0;
		fprintf(stderr, "libmosquitto: poll: %s\n", strerror(-rc));
		return rc;
	}
	if (!rc) {
		fprintf(stderr, "libmosquitto: nothing happened for %d ms\n",
			MQ_STALL_MS);
		return -ETIMEDOUT;
	}
	rc = MOSQ_ERR_SUCCESS;
	if ((p.revents & (POLLOUT | POLLERR | POLLHUP)) &&
	    mosquitto_want_write(c->m))
		rc = mosquitto_loop_write(c->m, 1);
	if (rc)
		return mq_err("mosquitto_loop_write", rc);
	if (!(p.revents & (POLLIN | POLLERR | POLLHUP)))
		return 0;
	do {
		before = c->received;
		rc = mosquitto_loop_read(c->m, 1);
	} while (drain && !rc && c->received != before);
	if (rc)
		return mq_err("mosquitto_loop_read", rc);
	return 0;
}

static int mq_refused(int code)
{
	fprintf(stderr, "libmosquitto: CONNACK return code %d: %s\n", code,
		mosquitto_connack_string(code));
	return -ECONNREFUSED;
}

/*
 * The publish and receive figures stream packets: turn Nagle off with the
 * library's own option, as AF_MQTT and the raw client do, or small packets
 * wait for the peer's delayed ACK.
 */
static int mq_nodelay(struct mq_client *c)
{
	int rc = mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);

	return rc ? mq_err("MOSQ_OPT_TCP_NODELAY", rc) : 0;
}

/* Connect one session with the blocking call; wait for its CONNACK. */
static int mq_connect(struct bench_ctx *ctx, struct mq_client *c)
{
	char host[INET_ADDRSTRLEN];
	int port, rc, err;

	mq_broker(ctx, host, sizeof(host), &port);
	rc = mosquitto_connect(c->m, host, port, MQ_KEEPALIVE);
	if (rc)
		return mq_err("mosquitto_connect", rc);
	while (c->connack < 0) {
		err = mq_step(c, false);
		if (err)
			return c->connack > 0 ? mq_refused(c->connack) : err;
	}
	return c->connack ? mq_refused(c->connack) : 0;
}

/* DISCONNECT if still connected, flush it, free the client. */
static void mq_close(struct mq_client *c)
{
	if (!c->m)
		return;
	if (mosquitto_socket(c->m) >= 0 &&
	    mosquitto_disconnect(c->m) == MOSQ_ERR_SUCCESS) {
		/* Written at once unless the socket is full. */
		while (mosquitto_socket(c->m) >= 0 &&
		       mosquitto_want_write(c->m))
			if (mq_step(c, false))
				break;
	}
	mosquitto_destroy(c->m);
	c->m = NULL;
}

static int mq_connect_once(struct bench_ctx *ctx, unsigned int seq)
{
	struct mq_client c = { 0 };
	int err;

	mq_lib_init();
	err = mq_new(ctx, &c, seq);
	if (!err)
		err = mq_connect(ctx, &c);
	mq_close(&c);
	return err;
}

/* Keep epoll's interest in line with what the library wants. */
static int mq_watch(struct mq_set *s, struct mq_client *c)
{
	struct epoll_event e = { .data.ptr = c };
	int fd = mosquitto_socket(c->m);
	int err;

	if (fd < 0)	/* closed by the library, gone from epoll */
		return 0;
	e.events = EPOLLIN;
	if (mosquitto_want_write(c->m))
		e.events |= EPOLLOUT;
	if (e.events == c->events)
		return 0;
	if (epoll_ctl(s->ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		      fd, &e)) {
		err = -errno;
		fprintf(stderr, "libmosquitto: epoll_ctl: %s\n",
			strerror(-err));
		return err;
	}
	c->events = e.events;
	return 0;
}

/* Let the library act on what epoll reported for @c. */
static int mq_event(struct mq_set *s, struct mq_client *c, uint32_t ev)
{
	int rc = MOSQ_ERR_SUCCESS;

	if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
	    mosquitto_want_write(c->m))
		rc = mosquitto_loop_write(c->m, 1);
	if (rc)
		return mq_err("mosquitto_loop_write", rc);
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rc = mosquitto_loop_read(c->m, 1);
	if (rc)
		return mq_err("mosquitto_loop_read", rc);
	return mq_watch(s, c);
}

static void mq_set_free(struct mq_set *s)
{
	int i;

	if (s->c)
		for (i = 0; i < s->n; i++)
			mq_close(&s->c[i]);
	if (s->ep >= 0)
		close(s->ep);
	free(s->c);
}

static int mq_set_init(struct mq_set *s, int n)
{
	int err;

	s->n = n;
	s->c = calloc(n, sizeof(*s->c));
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!s->c || s->ep < 0) {
		err = s->c ? -errno : -ENOMEM;
		fprintf(stderr, "libmosquitto: %s: %s\n",
			s->c ? "epoll_create1" : "calloc", strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Create and start sessions of @s with non-blocking connects, until
 * @window of them wait for their CONNACK.
 */
static int mq_set_start(struct bench_ctx *ctx, struct mq_set *s,
			int keepalive, int window)
{
	char host[INET_ADDRSTRLEN];
	int i, port, rc, err;

	mq_broker(ctx, host, sizeof(host), &port);
	for (i = s->started; i < s->n && i - s->connected < window;
	     i = ++s->started) {
		err = mq_new(ctx, &s->c[i], i);
		if (err)
			return err;
		rc = mosquitto_connect_async(s->c[i].m, host, port, keepalive);
		if (rc)
			return mq_err("mosquitto_connect_async", rc);
		err = mq_watch(s, &s->c[i]);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The epoll loop until every session of @s has its CONNACK, keeping
 * @window connects in progress (starting more as CONNACKs come).
 */
static int mq_set_connack(struct bench_ctx *ctx, struct mq_set *s,
			  int keepalive, int window)
{
	struct epoll_event ev[MQ_EVENTS];
	int i, k, err;
	struct mq_client *c;

	while (s->connected < s->n) {
		err = mq_set_start(ctx, s, keepalive, window);
		if (err)
			return err;
		k = epoll_wait(s->ep, ev, MQ_EVENTS, MQ_STALL_MS);
		if (k < 0) {
			err = -errno;
			if (err == -EINTR)
				continue;
			fprintf(stderr, "libmosquitto: epoll_wait: %s\n",
				strerror(-err));
			return err;
		}
		if (!k) {
			fprintf(stderr,
				"libmosquitto: %d of %d CONNACKs after %d ms\n",
				s->connected, s->n, MQ_STALL_MS);
			return -ETIMEDOUT;
		}
		for (i = 0; i < k; i++) {
			c = ev[i].data.ptr;
			err = mq_event(s, c, ev[i].events);
			if (err)
				return c->connack > 0 ? mq_refused(c->connack)
						      : err;
			if (c->connack < 0 || c->counted)
				continue;
			if (c->connack)
				return mq_refused(c->connack);
			c->counted = true;
			s->connected++;
		}
	}
	return 0;
}

static int mq_connect_many(struct bench_ctx *ctx, int n)
{
	struct mq_set s = { .ep = -1 };
	int err;

	mq_lib_init();
	err = mq_set_init(&s, n);
	if (err)
		goto out;
	bench_start(ctx);
	err = mq_set_connack(ctx, &s, MQ_KEEPALIVE, BENCH_CONNECT_WINDOW);
	if (!err)
		bench_stop(ctx);
out:
	mq_set_free(&s);
	mq_lib_cleanup();
	return err;
}

static int mq_publish(struct bench_ctx *ctx, int qos, size_t len, int n)
{
	static unsigned char payload[BENCH_MAX_PAYLOAD];
	struct mq_client c = { 0 };
	int sent = 0, rc, err;

	if (len > BENCH_MAX_PAYLOAD || qos < 0 || qos > 1) {
		fprintf(stderr, "libmosquitto: publish: bad arguments\n");
		return -EINVAL;
	}
	memset(payload, BENCH_PAYLOAD_BYTE, len);
	mq_lib_init();
	err = mq_new(ctx, &c, 0);
	if (err)
		goto out;
	rc = mosquitto_int_option(c.m, MOSQ_OPT_SEND_MAXIMUM, MQ_WINDOW);
	if (rc) {
		err = mq_err("MOSQ_OPT_SEND_MAXIMUM", rc);
		goto out;
	}
	err = mq_nodelay(&c);
	if (!err)
		err = mq_connect(ctx, &c);
	if (err)
		goto out;

	bench_start(ctx);
	/* QoS 0 ends with the fence of bench.h: one more message, QoS 1. */
	if (!qos)
		n++;
	while (c.done < n) {
		while (sent < n && !mosquitto_want_write(c.m) &&
		       (!qos || sent - c.done < MQ_WINDOW)) {
			int q = qos || sent < n - 1 ? qos : 1;

			/* The fence goes after everything before it. */
			if (q != qos && c.done < sent)
				break;
			rc = mosquitto_publish(c.m, NULL, ctx->topic, (int)len,
					       payload, q, false);
			if (rc) {
				err = mq_err("mosquitto_publish", rc);
				goto out;
			}
			sent++;
		}
		if (c.done < n) {
			err = mq_step(&c, false);
			if (err)
				goto out;
		}
	}
	bench_stop(ctx);
out:
	mq_close(&c);
	mq_lib_cleanup();
	return err;
}

static int mq_receive(struct bench_ctx *ctx, int qos, size_t len, int n)
{
	struct mq_client c = { 0 };
	int rc, err;

	mq_lib_init();
	err = mq_new(ctx, &c, 0);
	if (err)
		goto out;
	c.len = len;
	err = mq_nodelay(&c);
	if (!err)
		err = mq_connect(ctx, &c);
	if (err)
		goto out;
	rc = mosquitto_subscribe(c.m, NULL, ctx->topic, qos);
	if (rc) {
		err = mq_err("mosquitto_subscribe", rc);
		goto out;
	}
	while (c.suback < 0) {
		err = mq_step(&c, false);
		if (err)
			goto out;
	}
	if (c.suback != qos) {
		fprintf(stderr, "libmosquitto: SUBACK granted %#x for QoS %d\n",
			c.suback, qos);
		err = -EPROTO;
		goto out;
	}

	bench_ready(ctx);
	while (c.received < n) {
		err = mq_step(&c, true);
		if (err)
			goto out;
	}
	bench_stop(ctx);
	if (c.bad) {
		fprintf(stderr,
			"libmosquitto: %d of %d messages not %zu bytes long\n",
			c.bad, n, len);
		err = -EBADMSG;
	}
out:
	mq_close(&c);
	mq_lib_cleanup();
	return err;
}

/* mosquitto_loop_misc() on every live session: PINGREQ when it is due. */
static int mq_set_misc(struct mq_set *s)
{
	struct mq_client *c;
	int i, rc, err;

	for (i = 0; i < s->n; i++) {
		c = &s->c[i];
		if (mosquitto_socket(c->m) < 0)
			continue;
		rc = mosquitto_loop_misc(c->m);
		if (rc && rc != MOSQ_ERR_NO_CONN)
			mq_err("mosquitto_loop_misc", rc);
		err = mq_watch(s, c);
		if (err)
			return err;
	}
	return 0;
}

static int mq_idle(struct bench_ctx *ctx, int n, int keepalive, int secs)
{
	struct epoll_event ev[MQ_EVENTS];
	struct mq_set s = { .ep = -1 };
	uint64_t now, end, tick;
	int i, k, lost, err;
	long ms;

	if (keepalive < 5) {
		fprintf(stderr, "libmosquitto: keepalive %d s: %s\n", keepalive,
			"the library refuses less than 5 s");
		return -EOPNOTSUPP;
	}
	mq_lib_init();
	err = mq_set_init(&s, n);
	if (!err)
		err = mq_set_connack(ctx, &s, keepalive, BENCH_CONNECT_WINDOW);
	if (err)
		goto out;

	bench_start(ctx);
	now = bench_now_ns();
	end = now + (uint64_t)secs * 1000000000ULL;
	tick = now + MQ_TICK_NS;
	for (;;) {
		now = bench_now_ns();
		if (now >= end)
			break;
		if (now >= tick) {
			err = mq_set_misc(&s);
			if (err)
				goto out;
			tick += MQ_TICK_NS;
			if (tick <= now)
				tick = now + MQ_TICK_NS;
		}
		ms = (long)(((tick < end ? tick : end) - now + 999999) /
			    1000000);
		k = epoll_wait(s.ep, ev, MQ_EVENTS, (int)ms);
		if (k < 0) {
			err = -errno;
			if (err == -EINTR)
				continue;
			fprintf(stderr, "libmosquitto: epoll_wait: %s\n",
				strerror(-err));
			goto out;
		}
		/* A lost session is counted at the end, not fatal here. */
		for (i = 0; i < k; i++)
			mq_event(&s, ev[i].data.ptr, ev[i].events);
	}
	bench_stop(ctx);

	for (i = 0, lost = 0; i < n; i++)
		if (s.c[i].lost || mosquitto_socket(s.c[i].m) < 0)
			lost++;
	if (lost) {
		fprintf(stderr,
			"libmosquitto: %d of %d sessions lost while idle\n",
			lost, n);
		err = -ENOTCONN;
	}
out:
	mq_set_free(&s);
	mq_lib_cleanup();
	return err;
}

const struct bench_contender bench_libmosquitto = {
	.name		= "libmosquitto",
	.connect_once	= mq_connect_once,
	.connect_many	= mq_connect_many,
	.publish	= mq_publish,
	.receive	= mq_receive,
	.idle		= mq_idle,
	.hold		= NULL,
};
