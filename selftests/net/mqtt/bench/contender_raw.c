// SPDX-License-Identifier: GPL-2.0
/*
 * The floor: a hand-written MQTT 3.1.1 client on a plain TCP socket, with
 * the fewest syscalls user space can spend for the same work.  Packets are
 * built once into a buffer and go out with one write() each; reads take
 * whatever is queued and parse every packet in it.
 *
 * connect_once:  socket, connect, write CONNECT, read CONNACK,
 *                write DISCONNECT, close.
 * connect_many:  non-blocking sockets in one epoll loop: EPOLLOUT -> write
 *                CONNECT and switch to EPOLLIN -> read CONNACK.
 * publish:       one write() per PUBLISH; QoS 1 reads PUBACKs only when 64
 *                are unacknowledged, and at the end.
 * receive:       read() as much as is queued, parse, and answer all QoS 1
 *                messages of one read with one write() of PUBACKs.
 * idle:          one epoll loop: every keepalive, a PINGREQ on every socket;
 *                PINGRESPs read as they come.
 * hold:          connected sessions, idle.
 *
 * raw_publish() is also the framework's publisher for the receive figure.
 *
 * Over TLS (connect_once, publish, receive) it is the floor of a
 * hand-written client on OpenSSL: the same packets, each write() an
 * SSL_write() and each read() an SSL_read() of a session whose TLS runs
 * in user space (bench_tls_client(), bench_recv(), bench_send()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* MQTT 3.1.1 packet types and fixed sizes this client needs. */
#define RAW_CONNECT		0x10
#define RAW_CONNACK		0x20
#define RAW_PUBLISH		0x30
#define RAW_PUBACK		0x40
#define RAW_SUBSCRIBE		0x82	/* type 8, reserved flags 0b0010 */
#define RAW_SUBACK		0x90
#define RAW_PINGREQ		0xc0
#define RAW_PINGRESP		0xd0
#define RAW_DISCONNECT		0xe0
#define RAW_TYPE_MASK		0xf0
#define RAW_QOS_SHIFT		1
#define RAW_CLEAN_SESSION	0x02
#define RAW_LEVEL_311		4
#define RAW_CONNACK_LEN		4
#define RAW_ACK_LEN		4	/* PUBACK */
#define RAW_WINDOW		64
#define RAW_KEEPALIVE		60
#define RAW_RLEN_MAX_BYTES	4

static const unsigned char raw_disconnect[2] = { RAW_DISCONNECT, 0 };

static int raw_fail(const char *what)
{
	int err = errno ? errno : EIO;

	fprintf(stderr, "raw: %s: %s\n", what, strerror(err));
	return -err;
}

static size_t raw_put_rlen(unsigned char *p, size_t len)
{
	size_t i = 0;

	do {
		p[i] = len & 0x7f;
		len >>= 7;
		if (len)
			p[i] |= 0x80;
		i++;
	} while (len);
	return i;
}

static size_t raw_put_str(unsigned char *p, const char *s, size_t len)
{
	p[0] = len >> 8;
	p[1] = len & 0xff;
	memcpy(p + 2, s, len);
	return len + 2;
}

/* Decode one packet header at @p (@avail bytes): total length or 0. */
static size_t raw_packet_len(const unsigned char *p, size_t avail)
{
	size_t len = 0, i;

	for (i = 1; i < avail && i <= RAW_RLEN_MAX_BYTES; i++) {
		len |= (size_t)(p[i] & 0x7f) << (7 * (i - 1));
		if (!(p[i] & 0x80))
			return avail >= i + 1 + len ? i + 1 + len : 0;
	}
	return 0;
}

static size_t raw_connect_packet(struct bench_ctx *ctx, unsigned int i,
				 int keepalive, unsigned char *p)
{
	unsigned char body[128];
	char id[64];
	size_t n = 0, h;

	bench_client_id(ctx, i, id, sizeof(id));
	n += raw_put_str(body + n, "MQTT", 4);
	body[n++] = RAW_LEVEL_311;
	body[n++] = RAW_CLEAN_SESSION;
	body[n++] = keepalive >> 8;
	body[n++] = keepalive & 0xff;
	n += raw_put_str(body + n, id, strlen(id));
	p[0] = RAW_CONNECT;
	h = 1 + raw_put_rlen(p + 1, n);
	memcpy(p + h, body, n);
	return h + n;
}

static int raw_write(int fd, const void *buf, size_t len)
{
	return bench_write_all(fd, buf, len) ? raw_fail("write") : 0;
}

static int raw_read_full(int fd, void *buf, size_t len)
{
	return bench_read_all(fd, buf, len) ? raw_fail("read") : 0;
}

static int raw_check_connack(const unsigned char *p)
{
	if (p[0] != RAW_CONNACK || p[1] != 2 || p[3]) {
		fprintf(stderr, "raw: bad CONNACK %02x %02x %02x %02x\n",
			p[0], p[1], p[2], p[3]);
		return -ECONNREFUSED;
	}
	return 0;
}

/**
 * raw_connect() - open a session the floor's way
 * @ctx: the run
 * @i: client id index
 * @keepalive: seconds
 *
 * Return: the connected TCP socket, or a negative errno.
 */
int raw_connect(struct bench_ctx *ctx, unsigned int i, int keepalive)
{
	unsigned char pkt[160], ack[RAW_CONNACK_LEN];
	size_t len = raw_connect_packet(ctx, i, keepalive, pkt);
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return raw_fail("socket");
	if (connect(fd, (struct sockaddr *)(ctx->tls ? &ctx->tls_broker :
					    &ctx->broker),
		    sizeof(ctx->broker))) {
		err = raw_fail("connect");
		goto fail;
	}
	/* Over TLS the floor's TCP_NODELAY comes first: small records. */
	err = ctx->tls ? raw_nodelay(fd) : 0;
	if (!err && ctx->tls)
		err = bench_tls_client(ctx, fd);
	if (!err)
		err = raw_write(fd, pkt, len);
	if (!err)
		err = raw_read_full(fd, ack, sizeof(ack));
	if (!err)
		err = raw_check_connack(ack);
	if (!err)
		return fd;
fail:
	bench_close(fd);
	return err;
}

/**
 * raw_disconnect_close() - send DISCONNECT and close a raw session
 * @fd: the session's socket
 *
 * Return: 0 or a negative errno.
 */
int raw_disconnect_close(int fd)
{
	int err = raw_write(fd, raw_disconnect, sizeof(raw_disconnect));

	if (bench_close(fd) && !err)
		err = raw_fail("close");
	return err;
}

static int raw_connect_once(struct bench_ctx *ctx, unsigned int seq)
{
	int fd = raw_connect(ctx, seq, RAW_KEEPALIVE);

	return fd < 0 ? fd : raw_disconnect_close(fd);
}

static int raw_connect_many(struct bench_ctx *ctx, int n)
{
	unsigned char pkt[160], ack[RAW_CONNACK_LEN];
	struct epoll_event ev[64];
	int *fds = bench_fds(n), ep, i, done = 0, started = 0, err = 0;

	ep = epoll_create1(0);
	if (!fds || ep < 0) {
		err = fds ? raw_fail("epoll_create1") : -ENOMEM;
		goto out;
	}
	bench_start(ctx);
	while (done < n) {
		int k;

		for (; started < n && started - done < BENCH_CONNECT_WINDOW;
		     started++) {
			struct epoll_event e = {
				.events = EPOLLOUT,
				.data.u32 = started,
			};

			i = started;
			fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK,
					0);
			if (fds[i] < 0) {
				err = raw_fail("socket");
				goto out;
			}
			if (connect(fds[i], (struct sockaddr *)&ctx->broker,
				    sizeof(ctx->broker)) &&
			    errno != EINPROGRESS) {
				err = raw_fail("connect");
				goto out;
			}
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e)) {
				err = raw_fail("epoll_ctl");
				goto out;
			}
		}
		k = epoll_wait(ep, ev, 64, -1);

		if (k < 0) {
			err = raw_fail("epoll_wait");
			goto out;
		}
		for (i = 0; i < k; i++) {
			unsigned int s = ev[i].data.u32;
			int fd = fds[s];

			if (ev[i].events & (EPOLLERR | EPOLLHUP)) {
				fprintf(stderr, "raw: session %u failed\n", s);
				err = -ECONNREFUSED;
				goto out;
			}
			if (ev[i].events & EPOLLOUT) {
				/*
				 * A CONNECT of ~40 bytes always fits an empty
				 * send buffer: one write, no partial case.
				 */
				struct epoll_event e = {
					.events = EPOLLIN,
					.data.u32 = s,
				};
				size_t len = raw_connect_packet(ctx, s,
						RAW_KEEPALIVE, pkt);

				if (write(fd, pkt, len) != (ssize_t)len ||
				    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e)) {
					err = raw_fail("CONNECT");
					goto out;
				}
				continue;
			}
			/* A 4-byte CONNACK arrives in one segment. */
			if (read(fd, ack, sizeof(ack)) != sizeof(ack)) {
				err = raw_fail("CONNACK");
				goto out;
			}
			err = raw_check_connack(ack);
			if (err)
				goto out;
			done++;
		}
	}
	bench_stop(ctx);
out:
	if (ep >= 0)
		close(ep);
	if (fds)
		bench_close_fds(fds, n, raw_disconnect_close);
	return err;
}

/*
 * Read what is queued (blocking for at least one byte) and count the
 * complete PUBACKs in it; @buf keeps a partial packet across calls.
 */
static int raw_read_acks(int fd, unsigned char *buf, size_t *have,
			 size_t size, int *acked)
{
	ssize_t r = bench_recv(fd, buf + *have, size - *have);
	size_t off = 0, len;

	if (r <= 0) {
		if (!r)
			errno = ECONNRESET;
		return raw_fail("read");
	}
	*have += r;
	while ((len = raw_packet_len(buf + off, *have - off))) {
		if ((buf[off] & RAW_TYPE_MASK) != RAW_PUBACK) {
			fprintf(stderr, "raw: unexpected packet %02x\n",
				buf[off]);
			return -EPROTO;
		}
		(*acked)++;
		off += len;
	}
	memmove(buf, buf + off, *have - off);
	*have -= off;
	return 0;
}

/**
 * raw_publish() - publish @n messages on a connected raw session
 * @fd: the session's TCP socket
 * @topic: topic name
 * @qos: 0 or 1
 * @len: payload bytes
 * @n: messages
 *
 * Return: 0 once every message was written (QoS 0) or acknowledged (QoS 1).
 */
int raw_publish(int fd, const char *topic, int qos, size_t len, int n)
{
	size_t tlen = strlen(topic), hdr, total, have = 0;
	unsigned char *pkt, ackbuf[4096];
	int i, acked = 0, err = 0, id_off;

	pkt = malloc(1 + RAW_RLEN_MAX_BYTES + 2 + tlen + 2 + len);
	if (!pkt)
		return -ENOMEM;
	pkt[0] = RAW_PUBLISH | qos << RAW_QOS_SHIFT;
	hdr = 1 + raw_put_rlen(pkt + 1, 2 + tlen + (qos ? 2 : 0) + len);
	total = hdr + raw_put_str(pkt + hdr, topic, tlen);
	id_off = total;
	if (qos)
		total += 2;
	memset(pkt + total, BENCH_PAYLOAD_BYTE, len);
	total += len;

	for (i = 0; i < n && !err; i++) {
		if (qos) {
			unsigned int id = i % 65535 + 1;

			while (i - acked >= RAW_WINDOW && !err)
				err = raw_read_acks(fd, ackbuf, &have,
						    sizeof(ackbuf), &acked);
			pkt[id_off] = id >> 8;
			pkt[id_off + 1] = id & 0xff;
		}
		if (!err)
			err = raw_write(fd, pkt, total);
	}
	while (qos && acked < n && !err)
		err = raw_read_acks(fd, ackbuf, &have, sizeof(ackbuf), &acked);
	free(pkt);
	return err;
}

/*
 * A client that streams messages turns Nagle off, as AF_MQTT and the
 * libraries' low-latency options do: otherwise small packets wait for the
 * peer's delayed ACK, and the figure measures that timer.
 */
int raw_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ?
	       raw_fail("TCP_NODELAY") : 0;
}

static int raw_publish_figure(struct bench_ctx *ctx, int qos, size_t len,
			      int n)
{
	int fd = raw_connect(ctx, 0, RAW_KEEPALIVE), err;

	if (fd < 0)
		return fd;
	err = raw_nodelay(fd);
	if (err) {
		bench_close(fd);
		return err;
	}
	bench_start(ctx);
	err = raw_publish(fd, ctx->topic, qos, len, n);
	/* The QoS 0 fence of bench.h. */
	if (!err && !qos)
		err = raw_publish(fd, ctx->topic, 1, len, 1);
	bench_stop(ctx);
	if (raw_disconnect_close(fd) && !err)
		err = -EIO;
	return err;
}

static int raw_subscribe(int fd, const char *topic, int qos)
{
	size_t tlen = strlen(topic), n;
	unsigned char pkt[128], ack[5];

	pkt[0] = RAW_SUBSCRIBE;
	n = 1 + raw_put_rlen(pkt + 1, 2 + 2 + tlen + 1);
	pkt[n++] = 0;
	pkt[n++] = 1;		/* packet identifier */
	n += raw_put_str(pkt + n, topic, tlen);
	pkt[n++] = qos;
	if (raw_write(fd, pkt, n) || raw_read_full(fd, ack, sizeof(ack)))
		return -EIO;
	if (ack[0] != RAW_SUBACK || ack[4] != qos) {
		fprintf(stderr, "raw: bad SUBACK %02x .. %02x\n", ack[0],
			ack[4]);
		return -EPROTO;
	}
	return 0;
}

static int raw_receive(struct bench_ctx *ctx, int qos, size_t len, int n)
{
	size_t tlen = strlen(ctx->topic), have = 0, size = 256 * 1024;
	unsigned char *buf = malloc(size), acks[4096];
	int fd, got = 0, err;

	if (!buf)
		return -ENOMEM;
	fd = raw_connect(ctx, 0, RAW_KEEPALIVE);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	err = raw_nodelay(fd);
	if (!err)
		err = raw_subscribe(fd, ctx->topic, qos);
	if (err)
		goto out;
	bench_ready(ctx);
	while (got < n && !err) {
		size_t off = 0, plen, nacks = 0;
		ssize_t r = bench_recv(fd, buf + have, size - have);

		if (r <= 0) {
			errno = r ? errno : ECONNRESET;
			err = raw_fail("read");
			break;
		}
		have += r;
		while ((plen = raw_packet_len(buf + off, have - off))) {
			unsigned char *p = buf + off;
			int pq = (p[0] >> RAW_QOS_SHIFT) & 3;
			size_t body = 2;	/* variable header */

			while (p[body - 1] & 0x80)
				body++;
			if ((p[0] & RAW_TYPE_MASK) != RAW_PUBLISH ||
			    plen - body - 2 - tlen - (pq ? 2 : 0) != len) {
				fprintf(stderr, "raw: unexpected packet %02x\n",
					p[0]);
				err = -EPROTO;
				break;
			}
			if (pq) {
				unsigned char *id = p + body + 2 + tlen;

				acks[nacks++] = RAW_PUBACK;
				acks[nacks++] = 2;
				acks[nacks++] = id[0];
				acks[nacks++] = id[1];
			}
			got++;
			off += plen;
			if (nacks == sizeof(acks)) {
				err = raw_write(fd, acks, nacks);
				nacks = 0;
			}
		}
		if (nacks && !err)
			err = raw_write(fd, acks, nacks);
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (!err)
		bench_stop(ctx);
out:
	if (raw_disconnect_close(fd) && !err)
		err = -EIO;
	free(buf);
	return err;
}

static int raw_idle(struct bench_ctx *ctx, int n, int keepalive, int secs)
{
	static const unsigned char ping[2] = { RAW_PINGREQ, 0 };
	int *fds = bench_fds(n), ep = -1, i, err = 0;
	uint64_t end, next;

	if (!fds)
		return -ENOMEM;
	ep = epoll_create1(0);
	if (ep < 0) {
		err = raw_fail("epoll_create1");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = i };

		fds[i] = raw_connect(ctx, i, keepalive);
		if (fds[i] < 0) {
			err = fds[i];
			goto out;
		}
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e)) {
			err = raw_fail("epoll_ctl");
			goto out;
		}
	}
	bench_start(ctx);
	end = bench_now_ns() + secs * 1000000000ull;
	/*
	 * All sessions connected within the same moment: one timer serves
	 * them all.  PINGREQ a little before the keepalive is due.
	 */
	next = bench_now_ns() + keepalive * 900000000ull;
	for (;;) {
		struct epoll_event ev[64];
		uint64_t now = bench_now_ns();
		int k, wait;

		if (now >= end)
			break;
		if (now >= next) {
			for (i = 0; i < n && !err; i++)
				err = raw_write(fds[i], ping, sizeof(ping));
			if (err)
				goto out;
			next = now + keepalive * 900000000ull;
		}
		wait = ((next < end ? next : end) - now) / 1000000 + 1;
		k = epoll_wait(ep, ev, 64, wait);
		if (k < 0) {
			err = raw_fail("epoll_wait");
			goto out;
		}
		for (i = 0; i < k; i++) {
			unsigned char buf[64];
			ssize_t r = read(fds[ev[i].data.u32], buf, sizeof(buf));

			if (r <= 0 || buf[0] != RAW_PINGRESP) {
				fprintf(stderr, "raw: session %u ended\n",
					ev[i].data.u32);
				err = -ENOTCONN;
				goto out;
			}
		}
	}
	bench_stop(ctx);
out:
	if (ep >= 0)
		close(ep);
	bench_close_fds(fds, n, raw_disconnect_close);
	return err;
}

static int raw_open(struct bench_ctx *ctx, unsigned int i)
{
	return raw_connect(ctx, i, RAW_KEEPALIVE);
}

static int raw_hold(struct bench_ctx *ctx, int n)
{
	return bench_hold(ctx, n, raw_open, raw_disconnect_close);
}

const struct bench_contender bench_raw = {
	.name		= "raw",
	.connect_once	= raw_connect_once,
	.connect_many	= raw_connect_many,
	.publish	= raw_publish_figure,
	.receive	= raw_receive,
	.idle		= raw_idle,
	.hold		= raw_hold,
};
