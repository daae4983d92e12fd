// SPDX-License-Identifier: GPL-2.0
/*
 * The AF_MQTT contender: what a gateway writes against the socket family.
 *
 * connect_once:  socket, MQTT_CLIENT_ID, blocking connect (CONNACK read by
 *                the kernel), close (DISCONNECT sent by the kernel).
 * connect_many:  non-blocking sockets, one epoll loop, EPOLLOUT|EPOLLONESHOT
 *                says the session is up; EPOLLERR/EPOLLHUP that it failed.
 * publish:       one send() per message with the topic and QoS set once as
 *                socket defaults; QoS 1 completion from the delivery reports
 *                on the error queue (merged ranges, few reads).
 * receive:       MQTT_SUBSCRIBE, then one recv() per message; the kernel
 *                sends the PUBACKs.
 * idle:          the sessions need nothing from the process: it sleeps.
 * hold:          sessions connected and idle.
 *
 * Over TLS (connect_once, publish, receive): TCP, the handshake with
 * OpenSSL and kTLS on the TCP socket (samples/mqtt/ktls_openssl.h), the
 * socket attached with MQTT_TRANSPORT_FD, connect(fd, NULL, 0); then as
 * over TCP.  The handshake is timed with the connect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/errqueue.h>

#include <linux/mqtt.h>

#include "bench.h"
#include "ktls_openssl.h"

#define AFM_KEEPALIVE	60

static int afm_fail(const char *what)
{
	int err = errno ? errno : EIO;

	fprintf(stderr, "af_mqtt: %s: %s\n", what, strerror(err));
	return -err;
}

/* A socket with the session options every figure uses. */
static int afm_socket(struct bench_ctx *ctx, unsigned int i, int keepalive,
		      int type_flags)
{
	char id[64];
	int fd;

	fd = socket(AF_MQTT, SOCK_SEQPACKET | type_flags, 0);
	if (fd < 0)
		return afm_fail("socket");
	bench_client_id(ctx, i, id, sizeof(id));
	if (setsockopt(fd, SOL_MQTT, MQTT_CLIENT_ID, id, strlen(id)) ||
	    (keepalive != AFM_KEEPALIVE &&
	     setsockopt(fd, SOL_MQTT, MQTT_KEEPALIVE, &keepalive,
			sizeof(keepalive)))) {
		int err = afm_fail("setsockopt");

		close(fd);
		return err;
	}
	return fd;
}

/* TLS: the application's handshake, kTLS, the socket attached. */
static int afm_attach_tls(struct bench_ctx *ctx, int fd)
{
	char host[INET_ADDRSTRLEN], port[8], err[256];
	struct ktls_opts o;
	SSL *ssl = NULL;
	int tcp, ret = 0;

	bench_tls_opts(ctx, &o);
	inet_ntop(AF_INET, &ctx->tls_broker.sin_addr, host, sizeof(host));
	snprintf(port, sizeof(port), "%u", ntohs(ctx->tls_broker.sin_port));
	tcp = ktls_connect(host, port, &o, &ssl, err, sizeof(err));
	if (tcp < 0) {
		fprintf(stderr, "af_mqtt: TLS: %s\n", err);
		return -EPROTO;
	}
	ktls_ssl_free(ssl);
	if (setsockopt(fd, SOL_MQTT, MQTT_TRANSPORT_FD, &tcp, sizeof(tcp)))
		ret = afm_fail("MQTT_TRANSPORT_FD");
	close(tcp);
	return ret;
}

static int afm_connect(struct bench_ctx *ctx, unsigned int i, int keepalive)
{
	int fd = afm_socket(ctx, i, keepalive, 0), err;

	if (fd < 0)
		return fd;
	if (ctx->tls) {
		err = afm_attach_tls(ctx, fd);
		if (!err && connect(fd, NULL, 0))
			err = afm_fail("connect");
		if (err) {
			close(fd);
			return err;
		}
		return fd;
	}
	if (connect(fd, (struct sockaddr *)&ctx->broker,
		    sizeof(ctx->broker))) {
		int err = afm_fail("connect");

		close(fd);
		return err;
	}
	return fd;
}

static int afm_connect_once(struct bench_ctx *ctx, unsigned int seq)
{
	int fd = afm_connect(ctx, seq, AFM_KEEPALIVE);

	if (fd < 0)
		return fd;
	return close(fd) ? afm_fail("close") : 0;
}

static int afm_connect_many(struct bench_ctx *ctx, int n)
{
	struct epoll_event ev[64];
	int *fds = bench_fds(n), ep, i, done = 0, started = 0, err = 0;

	ep = epoll_create1(0);
	if (!fds || ep < 0) {
		err = fds ? afm_fail("epoll_create1") : -ENOMEM;
		goto out;
	}
	bench_start(ctx);
	while (done < n) {
		int k;

		for (; started < n && started - done < BENCH_CONNECT_WINDOW;
		     started++) {
			struct epoll_event e = {
				.events = EPOLLOUT | EPOLLONESHOT,
				.data.u32 = started,
			};

			i = started;
			fds[i] = afm_socket(ctx, i, AFM_KEEPALIVE,
					    SOCK_NONBLOCK);
			if (fds[i] < 0) {
				err = fds[i];
				goto out;
			}
			if (connect(fds[i], (struct sockaddr *)&ctx->broker,
				    sizeof(ctx->broker)) &&
			    errno != EINPROGRESS) {
				err = afm_fail("connect");
				goto out;
			}
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e)) {
				err = afm_fail("epoll_ctl");
				goto out;
			}
		}
		k = epoll_wait(ep, ev, 64, -1);

		if (k < 0) {
			err = afm_fail("epoll_wait");
			goto out;
		}
		for (i = 0; i < k; i++) {
			if (ev[i].events & (EPOLLERR | EPOLLHUP)) {
				fprintf(stderr, "af_mqtt: session %u failed\n",
					ev[i].data.u32);
				err = -ECONNREFUSED;
				goto out;
			}
			done++;
		}
	}
	bench_stop(ctx);
out:
	if (ep >= 0)
		close(ep);
	if (fds)
		bench_close_fds(fds, n, close);
	return err;
}

/* Wait until the delivery reports account for @n messages. */
static int afm_wait_reports(int fd, unsigned int n)
{
	char cbuf[CMSG_SPACE(sizeof(struct sock_extended_err))];
	unsigned int acked = 0;

	while (acked < n) {
		struct msghdr msg = {
			.msg_control = cbuf,
			.msg_controllen = sizeof(cbuf),
		};
		struct sock_extended_err *ee;
		struct cmsghdr *cm;

		if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			struct pollfd p = { .fd = fd, .events = 0 };

			if (errno != EAGAIN)
				return afm_fail("recvmsg(MSG_ERRQUEUE)");
			if (poll(&p, 1, -1) < 0)
				return afm_fail("poll");
			continue;
		}
		cm = CMSG_FIRSTHDR(&msg);
		if (!cm || cm->cmsg_level != SOL_MQTT ||
		    cm->cmsg_type != MQTT_DELIVERY_REPORTS) {
			fprintf(stderr, "af_mqtt: unexpected error queue entry\n");
			return -EPROTO;
		}
		ee = (struct sock_extended_err *)CMSG_DATA(cm);
		if (ee->ee_errno) {
			fprintf(stderr, "af_mqtt: messages %u..%u lost: %s\n",
				ee->ee_info, ee->ee_data,
				strerror(ee->ee_errno));
			return -(int)ee->ee_errno;
		}
		acked += ee->ee_data - ee->ee_info + 1;
	}
	return 0;
}

/* The QoS 0 figure's fence (bench.h): one QoS 1 message, its report. */
static int afm_fence(int fd, const void *payload, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)payload, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	int qos = 1;

	cm->cmsg_level = SOL_MQTT;
	cm->cmsg_type = MQTT_PUBLISH_QOS;
	cm->cmsg_len = CMSG_LEN(sizeof(qos));
	memcpy(CMSG_DATA(cm), &qos, sizeof(qos));
	if (sendmsg(fd, &msg, 0) != (ssize_t)len)
		return afm_fail("sendmsg(fence)");
	return afm_wait_reports(fd, 1);
}

static int afm_publish(struct bench_ctx *ctx, int qos, size_t len, int n)
{
	char payload[BENCH_MAX_PAYLOAD];
	int fd, i, one = 1, err = 0;

	memset(payload, BENCH_PAYLOAD_BYTE, len);
	fd = afm_connect(ctx, 0, AFM_KEEPALIVE);
	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_MQTT, MQTT_PUBLISH_TOPIC, ctx->topic,
		       strlen(ctx->topic)) ||
	    setsockopt(fd, SOL_MQTT, MQTT_PUBLISH_QOS, &qos, sizeof(qos)) ||
	    setsockopt(fd, SOL_MQTT, MQTT_DELIVERY_REPORTS, &one,
		       sizeof(one))) {
		err = afm_fail("setsockopt");
		goto out;
	}
	bench_start(ctx);
	for (i = 0; i < n; i++) {
		if (send(fd, payload, len, 0) != (ssize_t)len) {
			err = afm_fail("send");
			goto out;
		}
	}
	if (!qos)
		err = afm_fence(fd, payload, len);
	else
		err = afm_wait_reports(fd, n);
	bench_stop(ctx);
out:
	close(fd);
	return err;
}

static int afm_receive(struct bench_ctx *ctx, int qos, size_t len, int n)
{
	struct {
		struct mqtt_subscription sub;
		char filter[sizeof(ctx->topic)];
	} s = { .sub = { .qos = qos } };
	char buf[BENCH_MAX_PAYLOAD + 1];
	int fd, i, err = 0;

	fd = afm_connect(ctx, 0, AFM_KEEPALIVE);
	if (fd < 0)
		return fd;
	s.sub.filter_len = strlen(ctx->topic);
	memcpy(s.sub.filter, ctx->topic, s.sub.filter_len);
	if (setsockopt(fd, SOL_MQTT, MQTT_SUBSCRIBE, &s,
		       sizeof(s.sub) + s.sub.filter_len)) {
		err = afm_fail("MQTT_SUBSCRIBE");
		goto out;
	}
	bench_ready(ctx);
	for (i = 0; i < n; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r != (ssize_t)len) {
			err = r < 0 ? afm_fail("recv") : -EBADMSG;
			if (r >= 0)
				fprintf(stderr, "af_mqtt: got %zd bytes\n", r);
			goto out;
		}
	}
	bench_stop(ctx);
out:
	close(fd);
	return err;
}

/* A session is alive when it has no error and no hang-up to report. */
static int afm_alive(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

static int afm_idle(struct bench_ctx *ctx, int n, int keepalive, int secs)
{
	struct timespec ts = { .tv_sec = secs };
	int *fds = bench_fds(n), i, err = 0;

	if (!fds)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		fds[i] = afm_connect(ctx, i, keepalive);
		if (fds[i] < 0) {
			err = fds[i];
			goto out;
		}
	}
	bench_start(ctx);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	bench_stop(ctx);
	for (i = 0; i < n; i++) {
		if (!afm_alive(fds[i])) {
			fprintf(stderr, "af_mqtt: session %d ended\n", i);
			err = -ENOTCONN;
			break;
		}
	}
out:
	bench_close_fds(fds, n, close);
	return err;
}

static int afm_open(struct bench_ctx *ctx, unsigned int i)
{
	return afm_connect(ctx, i, AFM_KEEPALIVE);
}

static int afm_hold(struct bench_ctx *ctx, int n)
{
	return bench_hold(ctx, n, afm_open, close);
}

const struct bench_contender bench_af_mqtt = {
	.name		= "af_mqtt",
	.connect_once	= afm_connect_once,
	.connect_many	= afm_connect_many,
	.publish	= afm_publish,
	.receive	= afm_receive,
	.idle		= afm_idle,
	.hold		= afm_hold,
};
