// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT live session against a scripted peer: keepalive, PUBLISH in
 * both directions with every acknowledgement flow, the send window,
 * delivery reports, receiving (flags, truncation, back-pressure),
 * SUBSCRIBE/UNSUBSCRIBE, the ways a session ends, and the broker
 * misbehaviour that must end it.
 *
 * The test itself plays the broker: it listens on 127.0.0.1, accepts the
 * client's TCP connection, reads CONNECT, answers CONNACK 0 and then reads
 * and writes exact bytes on that connection (struct sess and the peer of
 * peer.h).  Calls on the AF_MQTT socket that block until the peer answers
 * (SUBSCRIBE, a send into a full window, a lingering close) run in
 * peer.h's helper thread (struct async) while the test answers.  Every wait is bounded: a broken module fails
 * tests instead of hanging the suite.
 *
 * Conformance ids [MQTT-x.y.z-n] refer to OASIS MQTT 3.1.1.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/errqueue.h>
#include <linux/mqtt.h>
#include <linux/sock_diag.h>

#include "peer.h"

/* Keepalive of the timing tests, and the tolerance the kernel gets. */
#define KEEPALIVE_S		1
#define KEEPALIVE_MS		(KEEPALIVE_S * 1000)
#define PING_EARLY_MS		20
#define PING_LATE_MS		1500

static const uint8_t pingreq[] = { PINGREQ_BYTES };

/* ---------------------------------------------------------------------- */
/* The session's end                                                       */
/* ---------------------------------------------------------------------- */

/*
 * The session ended with err: POLLERR|POLLHUP (and POLLIN|POLLRDHUP),
 * SO_ERROR, and TCP closed without DISCONNECT.
 */
static void expect_session_end(struct __test_metadata *_metadata,
			       struct sess *s, int err)
{
	short ev = wait_session_end(_metadata, s->fd);

	EXPECT_EQ(POLLIN | POLLRDHUP | POLLERR | POLLHUP,
		  ev & (POLLIN | POLLRDHUP | POLLERR | POLLHUP))
		TH_LOG("revents %#x", ev);
	ASSERT_EQ(err, so_error(_metadata, s->fd))
		TH_LOG("want %s", strerror(err));
	peer_expect_silent_close(_metadata, &s->p);
}

/* ---------------------------------------------------------------------- */
/* Subscriptions                                                           */
/* ---------------------------------------------------------------------- */

/*
 * The peer reads a SUBSCRIBE for filter at QoS qos, checks its bytes
 * [MQTT-3.8.1-1] and returns its identifier.
 */
static uint16_t peer_subscribe(struct __test_metadata *_metadata,
			       struct peer *p, const void *filter,
			       size_t len, int qos)
{
	uint8_t *want = malloc(len + 16);
	uint16_t id;
	size_t n;

	ASSERT_NE(NULL, want);
	ASSERT_EQ(SUBSCRIBE, peer_next(_metadata, p));
	id = pkt_id(p);
	ASSERT_NE(0, id);
	n = build_subscribe(want, id, filter, len, qos);
	expect_bytes(_metadata, want, n, p->pkt, p->pkt_len);
	free(want);
	return id;
}

static uint16_t peer_unsubscribe(struct __test_metadata *_metadata,
				 struct peer *p, const void *filter,
				 size_t len)
{
	uint8_t *want = malloc(len + 16);
	uint16_t id;
	size_t n;

	ASSERT_NE(NULL, want);
	ASSERT_EQ(UNSUBSCRIBE, peer_next(_metadata, p));
	id = pkt_id(p);
	ASSERT_NE(0, id);
	n = build_unsubscribe(want, id, filter, len);
	expect_bytes(_metadata, want, n, p->pkt, p->pkt_len);
	free(want);
	return id;
}

/* ---------------------------------------------------------------------- */
/* Session options on an unconnected socket                                */
/* ---------------------------------------------------------------------- */

FIXTURE(opts) {
	int fd;
};

FIXTURE_SETUP(opts)
{
	self->fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
	ASSERT_LE(0, self->fd) TH_LOG("socket: %s", strerror(errno));
}

FIXTURE_TEARDOWN(opts)
{
	close(self->fd);
}

TEST_F(opts, session_defaults)
{
	EXPECT_EQ(0, get_int(_metadata, self->fd, MQTT_PUBLISH_QOS));
	EXPECT_EQ(0, get_int(_metadata, self->fd, MQTT_PUBLISH_RETAIN));
	EXPECT_EQ(64, get_int(_metadata, self->fd, MQTT_INFLIGHT_MAX));
	EXPECT_EQ(0, get_int(_metadata, self->fd, MQTT_INFLIGHT));
	EXPECT_EQ(0, get_int(_metadata, self->fd, MQTT_DELIVERY_REPORTS));
	EXPECT_EQ(30000, get_int(_metadata, self->fd, MQTT_ACK_TIMEOUT));
	EXPECT_EQ(2 * 1024 * 1024,
		  get_int(_metadata, self->fd, MQTT_RECV_MAX));
}

/* The default topic is settable before connect and reads back. */
TEST_F(opts, publish_topic_reads_back)
{
	char buf[32];
	socklen_t len = sizeof(buf);

	set_str(_metadata, self->fd, MQTT_PUBLISH_TOPIC, "a/b/c", 5);
	ASSERT_EQ(0, get_opt(self->fd, MQTT_PUBLISH_TOPIC, buf, &len));
	ASSERT_EQ(5, (int)len);
	ASSERT_EQ(0, memcmp(buf, "a/b/c", 5));
}

TEST_F(opts, int_options_read_back)
{
	static const struct { int name, val; } opts[] = {
		{ MQTT_PUBLISH_QOS, 2 },
		{ MQTT_PUBLISH_QOS, 1 },
		{ MQTT_PUBLISH_RETAIN, 1 },
		{ MQTT_INFLIGHT_MAX, 1 },
		{ MQTT_INFLIGHT_MAX, 65535 },
		{ MQTT_DELIVERY_REPORTS, 1 },
		{ MQTT_ACK_TIMEOUT, 1234 },
		{ MQTT_RECV_MAX, 4096 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(opts); i++) {
		set_int(_metadata, self->fd, opts[i].name, opts[i].val);
		EXPECT_EQ(opts[i].val,
			  get_int(_metadata, self->fd, opts[i].name))
			TH_LOG("option %d", opts[i].name);
	}
}

/* Out-of-range values are refused and leave the old value in place. */
TEST_F(opts, int_options_out_of_range_einval)
{
	static const struct { int name, bad; } opts[] = {
		{ MQTT_PUBLISH_QOS, 3 },
		{ MQTT_PUBLISH_QOS, -1 },
		{ MQTT_PUBLISH_RETAIN, 2 },
		{ MQTT_PUBLISH_RETAIN, -1 },
		{ MQTT_INFLIGHT_MAX, 0 },
		{ MQTT_INFLIGHT_MAX, 65536 },
		{ MQTT_INFLIGHT_MAX, -1 },
	};
	unsigned int i;
	int before;

	for (i = 0; i < ARRAY_SIZE(opts); i++) {
		before = get_int(_metadata, self->fd, opts[i].name);
		ASSERT_EQ(-1, setsockopt(self->fd, SOL_MQTT, opts[i].name,
					 &opts[i].bad, sizeof(int)))
			TH_LOG("option %d accepted %d", opts[i].name,
			       opts[i].bad);
		ASSERT_EQ(EINVAL, errno);
		EXPECT_EQ(before, get_int(_metadata, self->fd, opts[i].name));
	}
}

TEST_F(opts, send_unconnected_enotconn)
{
	struct pub o = PUB_DEFAULTS;

	set_str(_metadata, self->fd, MQTT_PUBLISH_TOPIC, "t", 1);
	ASSERT_EQ(-ENOTCONN, mqtt_send(self->fd, &o, "x", 1, MSG_NOSIGNAL));
}

TEST_F(opts, subscribe_unconnected_enotconn)
{
	struct sub_buf b;
	socklen_t len = sub_fill(&b, 1, "a/b", 3);

	ASSERT_EQ(-1, setsockopt(self->fd, SOL_MQTT, MQTT_SUBSCRIBE, &b, len));
	ASSERT_EQ(ENOTCONN, errno);
}

TEST_F(opts, unsubscribe_unconnected_enotconn)
{
	ASSERT_EQ(-1, setsockopt(self->fd, SOL_MQTT, MQTT_UNSUBSCRIBE,
				 "a/b", 3));
	ASSERT_EQ(ENOTCONN, errno);
}

/* ---------------------------------------------------------------------- */
/* Keepalive [MQTT-3.1.2-23]                                               */
/* ---------------------------------------------------------------------- */

FIXTURE(keepalive) {
	struct sess s;
};

/* Keepalive's timing over TCP and over TLS 1.3 (its record layer's
 * part is TLS 1.2's too, and each run waits whole intervals).
 */
FIXTURE_VARIANT(keepalive) {
	enum sess_transport transport;
};

FIXTURE_VARIANT_ADD(keepalive, tcp) { .transport = SESS_TCP };
FIXTURE_VARIANT_ADD(keepalive, tls13) { .transport = SESS_TLS13 };

FIXTURE_SETUP(keepalive)
{
	sess_init(_metadata, &self->s, AF_INET);
	set_int(_metadata, self->s.fd, MQTT_KEEPALIVE, KEEPALIVE_S);
	self->s.transport = variant->transport;
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(keepalive)
{
	sess_fini(&self->s);
}

/* A PINGREQ arrives one keepalive (within tolerance) after since. */
static void expect_pingreq_after(struct __test_metadata *_metadata,
				 struct sess *s, int64_t since)
{
	ssize_t n = peer_pkt(&s->p, KEEPALIVE_MS + PING_LATE_MS + 1000);

	ASSERT_LT(0, n) TH_LOG("no PINGREQ: %s", strerror(-n));
	expect_bytes(_metadata, pingreq, sizeof(pingreq), s->p.pkt,
		     s->p.pkt_len);
	EXPECT_LE(since + KEEPALIVE_MS - PING_EARLY_MS, s->p.pkt_at)
		TH_LOG("PINGREQ %lld ms after the last packet",
		       (long long)(s->p.pkt_at - since));
	EXPECT_GE(since + KEEPALIVE_MS + PING_LATE_MS, s->p.pkt_at)
		TH_LOG("PINGREQ %lld ms after the last packet",
		       (long long)(s->p.pkt_at - since));
}

/* With nothing else to send, PINGREQ every keepalive; CONNECT counts. */
TEST_F(keepalive, pingreq_every_interval_when_idle)
{
	int64_t last = self->s.connect_at;
	int i;

	for (i = 0; i < 3; i++) {
		expect_pingreq_after(_metadata, &self->s, last);
		last = self->s.p.pkt_at;
		PEER_SEND(&self->s.p, PINGRESP_BYTES);
	}
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* A PUBLISH restarts the interval. */
TEST_F(keepalive, publish_restarts_interval)
{
	usleep(KEEPALIVE_MS / 2 * 1000);
	publish(_metadata, self->s.fd, "k", 0, "x", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH);
	expect_pingreq_after(_metadata, &self->s, self->s.p.pkt_at);
}

/* An acknowledgement the client sends restarts the interval too. */
TEST_F(keepalive, puback_restarts_interval)
{
	usleep(KEEPALIVE_MS / 2 * 1000);
	peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_QOS(1), "k", 5,
			 "x");
	PEER_EXPECT(&self->s.p, PUBACK, 0x02, ID_BYTES(5));
	expect_pingreq_after(_metadata, &self->s, self->s.p.pkt_at);
}

/* So does a SUBSCRIBE. */
TEST_F(keepalive, subscribe_restarts_interval)
{
	struct sub_buf b;
	socklen_t len = sub_fill(&b, 0, "k", 1);
	struct async a = { };
	int64_t sent;
	uint16_t id;

	usleep(KEEPALIVE_MS / 2 * 1000);
	async_setsockopt(_metadata, &a, self->s.fd, MQTT_SUBSCRIBE, &b, len);
	id = peer_subscribe(_metadata, &self->s.p, "k", 1, 0);
	sent = self->s.p.pkt_at;
	PEER_SEND(&self->s.p, SUBACK, 0x03, ID_BYTES(id), 0x00);
	async_join(_metadata, &a);
	ASSERT_EQ(0, a.ret) TH_LOG("subscribe: %s", strerror(a.err));
	expect_pingreq_after(_metadata, &self->s, sent);
}

/* Only what the client sends counts: a received PUBLISH does not. */
TEST_F(keepalive, received_publish_does_not_restart_interval)
{
	usleep(KEEPALIVE_MS / 2 * 1000);
	peer_publish_str(_metadata, &self->s.p, PUBLISH, "k", 0, "x");
	expect_pingreq_after(_metadata, &self->s, self->s.connect_at);
}

/* No PINGRESP within one keepalive after PINGREQ: ETIMEDOUT. */
TEST_F(keepalive, missing_pingresp_ends_session_etimedout)
{
	int64_t ping_at, ended;

	expect_pingreq_after(_metadata, &self->s, self->s.connect_at);
	ping_at = self->s.p.pkt_at;
	wait_session_end(_metadata, self->s.fd);
	ended = now_ms();
	EXPECT_LE(ping_at + KEEPALIVE_MS - PING_EARLY_MS, ended)
		TH_LOG("ended %lld ms after PINGREQ",
		       (long long)(ended - ping_at));
	EXPECT_GE(ping_at + KEEPALIVE_MS + PING_LATE_MS, ended)
		TH_LOG("ended %lld ms after PINGREQ",
		       (long long)(ended - ping_at));
	expect_session_end(_metadata, &self->s, ETIMEDOUT);
}

/* A PINGRESP late but within the interval keeps the session. */
TEST_F(keepalive, late_pingresp_within_interval_keeps_session)
{
	int64_t ping_at;

	expect_pingreq_after(_metadata, &self->s, self->s.connect_at);
	ping_at = self->s.p.pkt_at;
	usleep(KEEPALIVE_MS * 6 / 10 * 1000);
	PEER_SEND(&self->s.p, PINGRESP_BYTES);
	expect_pingreq_after(_metadata, &self->s, ping_at);
	PEER_SEND(&self->s.p, PINGRESP_BYTES);
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, 0));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* Messages in flight when the keepalive kills the session: ETIMEDOUT. */
TEST_F(keepalive, missing_pingresp_reports_inflight_lost)
{
	int outcome[2];

	set_int(_metadata, self->s.fd, MQTT_DELIVERY_REPORTS, 1);
	publish(_metadata, self->s.fd, "k", 1, "x", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	publish(_metadata, self->s.fd, "k", 2, "y", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	expect_pingreq_after(_metadata, &self->s, self->s.p.pkt_at);
	wait_session_end(_metadata, self->s.fd);
	reports_init(outcome, 2);
	wait_reports(_metadata, self->s.fd, outcome, 2);
	EXPECT_EQ(ETIMEDOUT, outcome[0]) TH_LOG("%s", strerror(outcome[0]));
	EXPECT_EQ(ETIMEDOUT, outcome[1]) TH_LOG("%s", strerror(outcome[1]));
	ASSERT_EQ(ETIMEDOUT, so_error(_metadata, self->s.fd));
	peer_expect_silent_close(_metadata, &self->s.p);
}

/* Any packet from the broker shows it is alive, not only PINGRESP. */
TEST_F(keepalive, any_packet_answers_pingreq)
{
	expect_pingreq_after(_metadata, &self->s, self->s.connect_at);
	peer_publish_str(_metadata, &self->s.p, PUBLISH, "k", 0, "alive");
	expect_pingreq_after(_metadata, &self->s, self->s.p.pkt_at);
	PEER_SEND(&self->s.p, PINGRESP_BYTES);
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, 0));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* After a keepalive timeout send fails ETIMEDOUT once, then EPIPE. */
TEST_F(keepalive, send_after_timeout_etimedout_then_epipe)
{
	struct pub o = { .topic = "k", .topic_len = 1, .qos = NO_CMSG,
			 .retain = NO_CMSG };

	expect_pingreq_after(_metadata, &self->s, self->s.connect_at);
	wait_session_end(_metadata, self->s.fd);
	ASSERT_EQ(-ETIMEDOUT, mqtt_send(self->s.fd, &o, "x", 1,
					MSG_NOSIGNAL));
	ASSERT_EQ(-EPIPE, mqtt_send(self->s.fd, &o, "x", 1, MSG_NOSIGNAL));
	peer_expect_silent_close(_metadata, &self->s.p);
}

/* After a keepalive timeout recv fails ETIMEDOUT once, then gives 0. */
TEST_F(keepalive, recv_after_timeout_etimedout_then_eof)
{
	struct rmsg m;
	uint8_t buf[16];

	expect_pingreq_after(_metadata, &self->s, self->s.connect_at);
	wait_session_end(_metadata, self->s.fd);
	mqtt_recv(&m, self->s.fd, buf, sizeof(buf), MSG_DONTWAIT);
	ASSERT_EQ(-ETIMEDOUT, m.ret);
	mqtt_recv(&m, self->s.fd, buf, sizeof(buf), 0);
	ASSERT_EQ(0, m.ret);
	EXPECT_EQ(0, m.flags & MSG_EOR);
	peer_expect_silent_close(_metadata, &self->s.p);
}

/* A dead session sends no DISCONNECT when closed. */
TEST_F(keepalive, close_after_timeout_sends_nothing)
{
	expect_pingreq_after(_metadata, &self->s, self->s.connect_at);
	wait_session_end(_metadata, self->s.fd);
	close(self->s.fd);
	self->s.fd = -1;
	peer_expect_silent_close(_metadata, &self->s.p);
}

/* ---------------------------------------------------------------------- */
/* PUBLISH from the client: the bytes on the wire [MQTT-3.3.1]             */
/* ---------------------------------------------------------------------- */

FIXTURE(publish_bytes) {
	struct sess s;
};

FIXTURE_VARIANT(publish_bytes) {
	int qos;
	int retain;
	bool cmsg;		/* per-message cmsgs, not socket defaults */
	size_t payload_len;
	int sndbuf;		/* SO_SNDBUFFORCE for large payloads */
	enum sess_transport transport;
};

FIXTURE_VARIANT_ADD(publish_bytes, qos0) { .qos = 0, .payload_len = 5 };
FIXTURE_VARIANT_ADD(publish_bytes, qos0_retain) {
	.qos = 0, .retain = 1, .payload_len = 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, qos1) { .qos = 1, .payload_len = 5 };
FIXTURE_VARIANT_ADD(publish_bytes, qos1_retain) {
	.qos = 1, .retain = 1, .payload_len = 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, qos2) { .qos = 2, .payload_len = 5 };
FIXTURE_VARIANT_ADD(publish_bytes, qos2_retain) {
	.qos = 2, .retain = 1, .payload_len = 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, cmsg_qos0_retain) {
	.qos = 0, .retain = 1, .cmsg = true, .payload_len = 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, cmsg_qos1) {
	.qos = 1, .cmsg = true, .payload_len = 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, cmsg_qos2_retain) {
	.qos = 2, .retain = 1, .cmsg = true, .payload_len = 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, empty_payload_qos0) { .qos = 0 };
FIXTURE_VARIANT_ADD(publish_bytes, empty_payload_qos1) { .qos = 1 };
/* Remaining Length boundaries: topic "t/x" takes 5 bytes at QoS 0. */
FIXTURE_VARIANT_ADD(publish_bytes, remaining_length_127) {
	.payload_len = 127 - 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, remaining_length_128) {
	.payload_len = 128 - 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, remaining_length_16383) {
	.payload_len = 16383 - 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, remaining_length_16384) {
	.payload_len = 16384 - 5,
};
FIXTURE_VARIANT_ADD(publish_bytes, remaining_length_2097152) {
	.qos = 1, .payload_len = 2097152 - 7, .sndbuf = 8 << 20,
};
/* Over kTLS: records of 16 KiB at most, a PUBLISH across many. */
FIXTURE_VARIANT_ADD(publish_bytes, tls12_qos2_retain) {
	.qos = 2, .retain = 1, .payload_len = 5, .transport = SESS_TLS12,
};
FIXTURE_VARIANT_ADD(publish_bytes, tls13_cmsg_qos1) {
	.qos = 1, .cmsg = true, .payload_len = 5, .transport = SESS_TLS13,
};
FIXTURE_VARIANT_ADD(publish_bytes, tls13_remaining_length_16384) {
	.payload_len = 16384 - 5, .transport = SESS_TLS13,
};
FIXTURE_VARIANT_ADD(publish_bytes, tls13_remaining_length_2097152) {
	.qos = 1, .payload_len = 2097152 - 7, .sndbuf = 8 << 20,
	.transport = SESS_TLS13,
};

FIXTURE_SETUP(publish_bytes)
{
	sess_init(_metadata, &self->s, AF_INET);
	self->s.transport = variant->transport;
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(publish_bytes)
{
	sess_fini(&self->s);
}

/*
 * One send() is one PUBLISH: type 3, DUP 0, QoS and RETAIN bits, the
 * topic, a non-zero packet identifier for QoS 1 and 2 only [MQTT-2.3.1-1],
 * the payload.  Then the flow of the QoS completes it.
 */
TEST_F(publish_bytes, exact_bytes_and_flow)
{
	static const char topic[] = "t/x";
	struct pub o = PUB_DEFAULTS;
	uint8_t *payload, *want;
	struct publish p;
	size_t want_len;
	ssize_t ret;

	payload = malloc(variant->payload_len + 1);
	want = malloc(variant->payload_len + 16);
	ASSERT_NE(NULL, payload);
	ASSERT_NE(NULL, want);
	fill_pattern(payload, variant->payload_len);
	if (variant->sndbuf)
		ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET,
					SO_SNDBUFFORCE, &variant->sndbuf,
					sizeof(int)));
	if (variant->cmsg) {
		/* The cmsgs override other defaults. */
		set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "other", 5);
		set_int(_metadata, self->s.fd, MQTT_PUBLISH_QOS,
			variant->qos ? 0 : 2);
		set_int(_metadata, self->s.fd, MQTT_PUBLISH_RETAIN,
			!variant->retain);
		o.topic = topic;
		o.topic_len = strlen(topic);
		o.qos = variant->qos;
		o.retain = variant->retain;
	} else {
		set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, topic,
			strlen(topic));
		set_int(_metadata, self->s.fd, MQTT_PUBLISH_QOS, variant->qos);
		set_int(_metadata, self->s.fd, MQTT_PUBLISH_RETAIN,
			variant->retain);
	}

	ret = mqtt_send(self->s.fd, &o, payload, variant->payload_len,
			MSG_NOSIGNAL);
	ASSERT_EQ((ssize_t)variant->payload_len, ret)
		TH_LOG("send: %s", strerror(-ret));
	EXPECT_EQ(variant->qos ? 1 : 0,
		  get_int(_metadata, self->s.fd, MQTT_INFLIGHT));

	peer_next(_metadata, &self->s.p);
	ASSERT_TRUE(parse_publish(self->s.p.pkt, self->s.p.pkt_hdr,
				  self->s.p.pkt_len, &p));
	ASSERT_EQ(!variant->qos, !p.id) TH_LOG("QoS %d, id %u", variant->qos,
					       p.id);
	want_len = build_publish(want, PUBLISH | PUB_QOS(variant->qos) |
				 (variant->retain ? PUB_RETAIN : 0),
				 topic, strlen(topic), p.id, payload,
				 variant->payload_len);
	expect_bytes(_metadata, want, want_len, self->s.p.pkt,
		     self->s.p.pkt_len);

	switch (variant->qos) {
	case 1:
		PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(p.id));
		break;
	case 2:
		PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(p.id));
		PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(p.id));
		PEER_SEND(&self->s.p, PUBCOMP, 0x02, ID_BYTES(p.id));
		break;
	}
	wait_inflight(_metadata, self->s.fd, 0);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	free(payload);
	free(want);
}

/* ---------------------------------------------------------------------- */
/* The session fixture: connected, keepalive 0                             */
/* ---------------------------------------------------------------------- */

FIXTURE(session) {
	struct sess s;
};

/*
 * The whole suite over TCP and over TLS 1.3 on an attached socket (issue
 * 12).  TLS 1.2 (and a plain attached socket) share every line of the
 * module's code with these but the record layer's, which publish_bytes'
 * and tls.c's fixtures run over it; the whole suite once more per
 * version would add minutes to every kernel's run.
 */
FIXTURE_VARIANT(session) {
	enum sess_transport transport;
};

FIXTURE_VARIANT_ADD(session, tcp) { .transport = SESS_TCP };
FIXTURE_VARIANT_ADD(session, tls13) { .transport = SESS_TLS13 };

FIXTURE_SETUP(session)
{
	sess_init(_metadata, &self->s, AF_INET);
	self->s.transport = variant->transport;
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(session)
{
	sess_fini(&self->s);
}

/* Keepalive 0 turns the mechanism off [MQTT-3.1.2-23]. */
TEST_F(session, keepalive_0_sends_no_pingreq)
{
	peer_quiet(_metadata, &self->s.p, 2 * KEEPALIVE_MS + PING_LATE_MS);
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* write() and send() publish to the default topic at the default QoS. */
TEST_F(session, write_and_send_use_defaults)
{
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "d/t", 3);
	ASSERT_EQ(3, write(self->s.fd, "abc", 3));
	PEER_EXPECT(&self->s.p, PUBLISH, 8, 0x00, 0x03, 'd', '/', 't',
		    'a', 'b', 'c');
	set_int(_metadata, self->s.fd, MQTT_PUBLISH_RETAIN, 1);
	ASSERT_EQ(2, send(self->s.fd, "de", 2, MSG_NOSIGNAL));
	PEER_EXPECT(&self->s.p, PUBLISH | PUB_RETAIN, 7, 0x00, 0x03,
		    'd', '/', 't', 'd', 'e');
}

/* The default topic is also settable while connected. */
TEST_F(session, publish_topic_settable_while_connected)
{
	char buf[8];
	socklen_t len = sizeof(buf);

	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "x", 1);
	ASSERT_EQ(0, get_opt(self->s.fd, MQTT_PUBLISH_TOPIC, buf, &len));
	ASSERT_EQ(1, (int)len);
	EXPECT_EQ('x', buf[0]);
	ASSERT_EQ(1, write(self->s.fd, "1", 1));
	PEER_EXPECT(&self->s.p, PUBLISH, 4, 0x00, 0x01, 'x', '1');
}

/* MSG_DONTWAIT, MSG_NOSIGNAL and MSG_EOR are accepted. */
TEST_F(session, supported_send_flags_accepted)
{
	static const int flags[] = { MSG_DONTWAIT, MSG_NOSIGNAL, MSG_EOR,
				     MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR };
	unsigned int i;

	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "f", 1);
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		ASSERT_EQ(1, send(self->s.fd, "z", 1, flags[i]))
			TH_LOG("flags %#x: %s", flags[i], strerror(errno));
		PEER_EXPECT(&self->s.p, PUBLISH, 4, 0x00, 0x01, 'f', 'z');
	}
}

/* sendmmsg(): one PUBLISH per message (MSG_BATCH on all but the last). */
TEST_F(session, sendmmsg_publishes_each_message)
{
	struct iovec iov[3] = {
		{ .iov_base = "a", .iov_len = 1 },
		{ .iov_base = "bc", .iov_len = 2 },
		{ .iov_base = "def", .iov_len = 3 },
	};
	struct mmsghdr m[3];
	unsigned int i;

	memset(m, 0, sizeof(m));
	for (i = 0; i < ARRAY_SIZE(m); i++) {
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "m", 1);
	ASSERT_EQ(3, sendmmsg(self->s.fd, m, 3, MSG_NOSIGNAL))
		TH_LOG("sendmmsg: %s", strerror(errno));
	for (i = 0; i < ARRAY_SIZE(m); i++)
		EXPECT_EQ(iov[i].iov_len, m[i].msg_len);
	PEER_EXPECT(&self->s.p, PUBLISH, 4, 0x00, 0x01, 'm', 'a');
	PEER_EXPECT(&self->s.p, PUBLISH, 5, 0x00, 0x01, 'm', 'b', 'c');
	PEER_EXPECT(&self->s.p, PUBLISH, 6, 0x00, 0x01, 'm', 'd', 'e', 'f');
}

/*
 * A payload the kernel cannot read fails with EFAULT before anything is
 * sent: the session goes on, and the broker sees no part of that message.
 */
TEST_F(session, send_unreadable_payload_efault_session_goes_on)
{
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "e", 1);
	ASSERT_EQ(-1, send(self->s.fd, (void *)16, 16, MSG_NOSIGNAL));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(2, send(self->s.fd, "ok", 2, MSG_NOSIGNAL))
		TH_LOG("send after EFAULT: %s", strerror(errno));
	PEER_EXPECT(&self->s.p, PUBLISH, 5, 0x00, 0x01, 'e', 'o', 'k');
}

TEST_F(session, unsupported_send_flags_eopnotsupp)
{
	static const int flags[] = { MSG_OOB, MSG_MORE, MSG_PEEK,
				     MSG_WAITALL, MSG_TRUNC, MSG_CONFIRM };
	unsigned int i;

	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "f", 1);
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		ASSERT_EQ(-1, send(self->s.fd, "z", 1,
				   flags[i] | MSG_NOSIGNAL))
			TH_LOG("flags %#x accepted", flags[i]);
		ASSERT_EQ(EOPNOTSUPP, errno) TH_LOG("flags %#x", flags[i]);
	}
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

TEST_F(session, send_without_topic_edestaddrreq)
{
	struct pub o = PUB_DEFAULTS;

	ASSERT_EQ(-EDESTADDRREQ, mqtt_send(self->s.fd, &o, "x", 1,
					   MSG_NOSIGNAL));
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/* A PUBLISH larger than SO_SNDBUF could never be queued: EMSGSIZE. */
static int wmem_queued(struct __test_metadata *_metadata, int fd)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	EXPECT_EQ(0, getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len))
		TH_LOG("SO_MEMINFO: %s", strerror(errno));
	return mem[SK_MEMINFO_WMEM_QUEUED];
}

/*
 * What TCP has not taken waits in the send queue, counted in SO_MEMINFO's
 * WMEM_QUEUED, and leaves it as the broker reads.
 */
TEST_F(session, unsent_bytes_shown_by_so_meminfo)
{
	static uint8_t buf[16384];
	int64_t deadline;
	ssize_t n;
	int i;

	ASSERT_EQ(0, wmem_queued(_metadata, self->s.fd));
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "m", 1);
	/* The peer reads nothing: TCP fills, then the send queue. */
	for (i = 0; i < 4096; i++) {
		n = send(self->s.fd, buf, sizeof(buf),
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			break;
		ASSERT_EQ((ssize_t)sizeof(buf), n);
	}
	ASSERT_EQ(-1, n) TH_LOG("TCP never filled");
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_LT(0, wmem_queued(_metadata, self->s.fd));

	deadline = now_ms() + PEER_TIMEOUT_MS;
	while (wmem_queued(_metadata, self->s.fd) && now_ms() < deadline) {
		struct pollfd pfd = { .fd = self->s.p.pfd, .events = POLLIN };

		if (poll(&pfd, 1, 100) > 0)
			ASSERT_LT(0, recv(self->s.p.pfd, buf, sizeof(buf), 0));
	}
	EXPECT_EQ(0, wmem_queued(_metadata, self->s.fd));
	/* Emptied by sending, not by the session's end. */
	EXPECT_EQ(0, so_error(_metadata, self->s.fd));
}

TEST_F(session, send_larger_than_sndbuf_emsgsize)
{
	int sndbuf = 16384, got = 0;
	socklen_t len = sizeof(got);
	struct publish p;
	uint8_t *buf;

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				sizeof(sndbuf)));
	ASSERT_EQ(0, getsockopt(self->s.fd, SOL_SOCKET, SO_SNDBUF, &got,
				&len));
	ASSERT_LT(0, got);
	buf = calloc(1, got + 1);
	ASSERT_NE(NULL, buf);
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "big", 3);
	ASSERT_EQ(-1, send(self->s.fd, buf, got + 1, MSG_NOSIGNAL))
		TH_LOG("%d bytes accepted with SO_SNDBUF %d", got + 1, got);
	ASSERT_EQ(EMSGSIZE, errno);
	/* Well below the limit is fine. */
	ASSERT_EQ(got / 2, send(self->s.fd, buf, got / 2, MSG_NOSIGNAL));
	ASSERT_EQ(PUBLISH, peer_next(_metadata, &self->s.p));
	ASSERT_TRUE(parse_publish(self->s.p.pkt, self->s.p.pkt_hdr,
				  self->s.p.pkt_len, &p));
	EXPECT_EQ((size_t)got / 2, p.payload_len);
	free(buf);
}

/*
 * One byte above MQTT's largest Remaining Length (268,435,455) is
 * EMSGSIZE even with a send buffer large enough.  The payload is never
 * touched: untouched anonymous memory reads as zeros.
 */
TEST_F(session, send_above_remaining_length_limit_emsgsize)
{
	const size_t topic_len = 1;
	size_t max_payload = MQTT_REMLEN_MAX - 2 - topic_len;
	int sndbuf = 600 << 20;
	void *buf;

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_SNDBUFFORCE,
				&sndbuf, sizeof(sndbuf)));
	buf = mmap(NULL, max_payload + 1, PROT_READ,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "t", topic_len);
	ASSERT_EQ(-1, send(self->s.fd, buf, max_payload + 1,
			   MSG_NOSIGNAL | MSG_DONTWAIT))
		TH_LOG("a %zu-byte payload was accepted", max_payload + 1);
	ASSERT_EQ(EMSGSIZE, errno);
	munmap(buf, max_payload + 1);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/* The identifier is non-zero and unique among packets in flight. */
TEST_F(session, packet_ids_unique_among_inflight)
{
	const int n = 64;
	uint16_t ids[64];
	int i, j;

	set_int(_metadata, self->s.fd, MQTT_INFLIGHT_MAX, n);
	for (i = 0; i < n; i++) {
		publish(_metadata, self->s.fd, "ids", 1 + i % 2, "x", 1);
		ids[i] = peer_publish(_metadata, &self->s.p,
				      PUBLISH | PUB_QOS(1 + i % 2));
		for (j = 0; j < i; j++)
			ASSERT_NE(ids[j], ids[i])
				TH_LOG("messages %d and %d share id %u",
				       j, i, ids[i]);
	}
	EXPECT_EQ(n, get_int(_metadata, self->s.fd, MQTT_INFLIGHT));
	for (i = 0; i < n; i += 2)
		PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(ids[i]));
	wait_inflight(_metadata, self->s.fd, n / 2);
	for (i = 1; i < n; i += 2)
		PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(ids[i]));
	for (i = 1; i < n; i += 2)
		PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(ids[i]));
	for (i = 1; i < n; i += 2)
		PEER_SEND(&self->s.p, PUBCOMP, 0x02, ID_BYTES(ids[i]));
	wait_inflight(_metadata, self->s.fd, 0);
}

/* QoS 1 stays in flight until the PUBACK [MQTT-4.3.2]. */
TEST_F(session, qos1_inflight_until_puback)
{
	uint16_t id;

	publish(_metadata, self->s.fd, "q1", 1, "x", 1);
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	ASSERT_EQ(1, get_int(_metadata, self->s.fd, MQTT_INFLIGHT));
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(id));
	wait_inflight(_metadata, self->s.fd, 0);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/*
 * QoS 2 [MQTT-4.3.3]: PUBREC is answered with PUBREL (flags 0010
 * [MQTT-3.6.1-1]); the message stays in flight until PUBCOMP.
 */
TEST_F(session, qos2_pubrec_pubrel_pubcomp)
{
	uint16_t id;

	publish(_metadata, self->s.fd, "q2", 2, "x", 1);
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(id));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(id));
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	ASSERT_EQ(1, get_int(_metadata, self->s.fd, MQTT_INFLIGHT));
	PEER_SEND(&self->s.p, PUBCOMP, 0x02, ID_BYTES(id));
	wait_inflight(_metadata, self->s.fd, 0);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/* PUBREL packets go out in the order the PUBRECs came [MQTT-4.6.0-4]. */
TEST_F(session, pubrel_order_follows_pubrec_order)
{
	uint16_t a, b, c;

	publish(_metadata, self->s.fd, "o", 2, "a", 1);
	a = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	publish(_metadata, self->s.fd, "o", 2, "b", 1);
	b = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	publish(_metadata, self->s.fd, "o", 2, "c", 1);
	c = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(c),
		  PUBREC, 0x02, ID_BYTES(a), PUBREC, 0x02, ID_BYTES(b));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(c));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(a));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(b));
	PEER_SEND(&self->s.p, PUBCOMP, 0x02, ID_BYTES(c),
		  PUBCOMP, 0x02, ID_BYTES(a), PUBCOMP, 0x02, ID_BYTES(b));
	wait_inflight(_metadata, self->s.fd, 0);
}

/*
 * sendmsg() refuses control data above net.core.optmem_max (20 KiB by
 * default) with ENOBUFS before the socket sees it.  Tests that pass
 * 64 KiB topics as cmsgs raise it; the old value comes back at teardown.
 */
static long optmem_saved = -1;

static void optmem_raise(struct __test_metadata *_metadata)
{
	const char *path = "/proc/sys/net/core/optmem_max";
	FILE *f = fopen(path, "r+");
	long cur;

	ASSERT_NE(NULL, f) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_EQ(1, fscanf(f, "%ld", &cur));
	if (cur < 256 * 1024) {
		rewind(f);
		ASSERT_LT(0, fprintf(f, "%d\n", 256 * 1024));
		optmem_saved = cur;
	}
	ASSERT_EQ(0, fclose(f)) TH_LOG("%s: %s", path, strerror(errno));
}

static void optmem_restore(void)
{
	FILE *f;

	if (optmem_saved < 0)
		return;
	f = fopen("/proc/sys/net/core/optmem_max", "w");
	if (f) {
		fprintf(f, "%ld\n", optmem_saved);
		fclose(f);
	}
	optmem_saved = -1;
}

/* The longest topic MQTT can carry, 65,535 bytes, as the default. */
TEST_F(session, longest_topic_sent)
{
	uint8_t *topic = malloc(MQTT_MAX_FIELD_LEN);
	struct publish p;

	ASSERT_NE(NULL, topic);
	fill_pattern(topic, MQTT_MAX_FIELD_LEN);
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, topic,
		MQTT_MAX_FIELD_LEN);
	ASSERT_EQ(2, write(self->s.fd, "hi", 2));
	peer_next(_metadata, &self->s.p);
	ASSERT_TRUE(parse_publish(self->s.p.pkt, self->s.p.pkt_hdr,
				  self->s.p.pkt_len, &p));
	ASSERT_EQ(MQTT_MAX_FIELD_LEN, (int)p.topic_len);
	EXPECT_EQ(0, memcmp(p.topic, topic, p.topic_len));
	ASSERT_EQ(2, (int)p.payload_len);
	EXPECT_EQ(0, memcmp(p.payload, "hi", 2));
	free(topic);
}

/* ... and as a cmsg. */
TEST_F(session, longest_topic_sent_as_cmsg)
{
	uint8_t *topic = malloc(MQTT_MAX_FIELD_LEN);
	struct pub o = PUB_DEFAULTS;
	struct publish p;
	ssize_t ret;

	ASSERT_NE(NULL, topic);
	fill_pattern(topic, MQTT_MAX_FIELD_LEN);
	o.topic = topic;
	o.topic_len = MQTT_MAX_FIELD_LEN;
	optmem_raise(_metadata);
	ret = mqtt_send(self->s.fd, &o, "hi", 2, MSG_NOSIGNAL);
	optmem_restore();
	ASSERT_EQ(2, ret) TH_LOG("send: %s", strerror(-ret));
	peer_next(_metadata, &self->s.p);
	ASSERT_TRUE(parse_publish(self->s.p.pkt, self->s.p.pkt_hdr,
				  self->s.p.pkt_len, &p));
	ASSERT_EQ(MQTT_MAX_FIELD_LEN, (int)p.topic_len);
	EXPECT_EQ(0, memcmp(p.topic, topic, p.topic_len));
	free(topic);
}

/* ---------------------------------------------------------------------- */
/* The send window: MQTT_INFLIGHT_MAX                                       */
/* ---------------------------------------------------------------------- */

/* Fill a window of two with QoS 1 messages; returns their ids. */
static void fill_window(struct __test_metadata *_metadata, struct sess *s,
			uint16_t *ids)
{
	int i;

	set_int(_metadata, s->fd, MQTT_INFLIGHT_MAX, 2);
	for (i = 0; i < 2; i++) {
		publish(_metadata, s->fd, "w", 1, "x", 1);
		ids[i] = peer_publish(_metadata, &s->p, PUBLISH | PUB_QOS(1));
	}
	ASSERT_EQ(2, get_int(_metadata, s->fd, MQTT_INFLIGHT));
}

/* A blocking send into a full window waits for an ack. */
TEST_F(session, window_full_blocking_send_waits_for_ack)
{
	struct async a = { .flags = MSG_NOSIGNAL, .buf = "y", .len = 1 };
	uint16_t ids[2];

	fill_window(_metadata, &self->s, ids);
	set_int(_metadata, self->s.fd, MQTT_PUBLISH_QOS, 1);
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "w", 1);
	a.fn = do_send;
	a.fd = self->s.fd;
	async_start(_metadata, &a);
	ASSERT_FALSE(async_done(&a, QUIET_MS))
		TH_LOG("send returned %zd (%s) with the window full", a.ret,
		       strerror(a.err));
	peer_quiet(_metadata, &self->s.p, 0);
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(ids[0]));
	async_join(_metadata, &a);
	ASSERT_EQ(1, a.ret) TH_LOG("send: %s", strerror(a.err));
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	EXPECT_EQ(2, get_int(_metadata, self->s.fd, MQTT_INFLIGHT));
}

TEST_F(session, window_full_msg_dontwait_eagain)
{
	struct pub o = { .topic = "w", .topic_len = 1, .qos = 1,
			 .retain = NO_CMSG };
	uint16_t ids[2];

	fill_window(_metadata, &self->s, ids);
	ASSERT_EQ(-EAGAIN, mqtt_send(self->s.fd, &o, "y", 1,
				     MSG_DONTWAIT | MSG_NOSIGNAL));
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	EXPECT_EQ(2, get_int(_metadata, self->s.fd, MQTT_INFLIGHT));
}

/* O_NONBLOCK: EAGAIN, no POLLOUT until an ack frees room, then sends. */
TEST_F(session, window_full_o_nonblock_eagain_then_pollout)
{
	struct pub o = { .topic = "w", .topic_len = 1, .qos = 2,
			 .retain = NO_CMSG };
	uint16_t ids[2];

	fill_window(_metadata, &self->s, ids);
	set_nonblock(_metadata, self->s.fd);
	ASSERT_EQ(-EAGAIN, mqtt_send(self->s.fd, &o, "y", 1, MSG_NOSIGNAL));
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, POLLOUT, QUIET_MS));
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(ids[1]));
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->s.fd, POLLOUT,
				   PEER_TIMEOUT_MS));
	ASSERT_EQ(1, mqtt_send(self->s.fd, &o, "y", 1, MSG_NOSIGNAL));
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
}

/* A QoS 2 message holds its place in the window until PUBCOMP. */
TEST_F(session, window_slot_freed_by_pubcomp_not_pubrec)
{
	struct pub o = { .topic = "w", .topic_len = 1, .qos = 2,
			 .retain = NO_CMSG };
	uint16_t id;

	set_int(_metadata, self->s.fd, MQTT_INFLIGHT_MAX, 1);
	ASSERT_EQ(1, mqtt_send(self->s.fd, &o, "a", 1, MSG_NOSIGNAL));
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(id));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(id));
	ASSERT_EQ(-EAGAIN, mqtt_send(self->s.fd, &o, "b", 1,
				     MSG_DONTWAIT | MSG_NOSIGNAL));
	PEER_SEND(&self->s.p, PUBCOMP, 0x02, ID_BYTES(id));
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->s.fd, POLLOUT,
				   PEER_TIMEOUT_MS));
	ASSERT_EQ(1, mqtt_send(self->s.fd, &o, "b", 1,
			       MSG_DONTWAIT | MSG_NOSIGNAL));
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
}

/* Raising MQTT_INFLIGHT_MAX while connected opens the window at once. */
TEST_F(session, window_raised_while_full)
{
	struct pub o = { .topic = "w", .topic_len = 1, .qos = 1,
			 .retain = NO_CMSG };
	uint16_t ids[2];

	fill_window(_metadata, &self->s, ids);
	ASSERT_EQ(-EAGAIN, mqtt_send(self->s.fd, &o, "y", 1,
				     MSG_DONTWAIT | MSG_NOSIGNAL));
	set_int(_metadata, self->s.fd, MQTT_INFLIGHT_MAX, 3);
	ASSERT_EQ(1, mqtt_send(self->s.fd, &o, "y", 1,
			       MSG_DONTWAIT | MSG_NOSIGNAL));
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	EXPECT_EQ(3, get_int(_metadata, self->s.fd, MQTT_INFLIGHT));
}

/* ---------------------------------------------------------------------- */
/* Delivery reports (MQTT_DELIVERY_REPORTS)                                */
/* ---------------------------------------------------------------------- */

/* Off by default: acknowledged messages leave the error queue empty. */
TEST_F(session, reports_off_by_default)
{
	uint16_t id;

	publish(_metadata, self->s.fd, "r", 1, "x", 1);
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(id));
	wait_inflight(_metadata, self->s.fd, 0);
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, QUIET_MS));
	ASSERT_EQ(-1, recv(self->s.fd, &id, sizeof(id),
			   MSG_ERRQUEUE | MSG_DONTWAIT));
	ASSERT_EQ(EAGAIN, errno);
}

/*
 * QoS 1 and 2 messages are numbered from 0 in send order, QoS 0 ones are
 * not; acknowledged ones are reported with ee_errno 0, POLLERR shows
 * while reports are queued.
 */
TEST_F(session, reports_acknowledged_messages)
{
	int outcome[3];
	uint16_t a, b, c;
	int i;

	set_int(_metadata, self->s.fd, MQTT_DELIVERY_REPORTS, 1);
	publish(_metadata, self->s.fd, "r", 1, "0", 1);
	a = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	publish(_metadata, self->s.fd, "r", 0, "-", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH);
	publish(_metadata, self->s.fd, "r", 2, "1", 1);
	b = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	publish(_metadata, self->s.fd, "r", 1, "2", 1);
	c = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, 0));

	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(a),
		  PUBREC, 0x02, ID_BYTES(b));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(b));
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(c),
		  PUBCOMP, 0x02, ID_BYTES(b));
	wait_inflight(_metadata, self->s.fd, 0);
	ASSERT_EQ(POLLERR, poll_fd(_metadata, self->s.fd, 0, PEER_TIMEOUT_MS));

	reports_init(outcome, 3);
	wait_reports(_metadata, self->s.fd, outcome, 3);
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0, outcome[i]) TH_LOG("message %d: %s", i,
						strerror(outcome[i]));
	}
	/* Drained: no POLLERR, nothing more to read. */
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, 0));
	ASSERT_EQ(0, read_reports(_metadata, self->s.fd, outcome, 3));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* Numbers count every QoS 1/2 send of the socket, reports on or off. */
TEST_F(session, reports_numbered_from_first_send)
{
	int outcome[3];
	uint16_t id;
	int i;

	for (i = 0; i < 2; i++) {
		publish(_metadata, self->s.fd, "r", 1, "x", 1);
		id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
		PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(id));
	}
	wait_inflight(_metadata, self->s.fd, 0);
	set_int(_metadata, self->s.fd, MQTT_DELIVERY_REPORTS, 1);
	publish(_metadata, self->s.fd, "r", 2, "x", 1);
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(id));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(id));
	PEER_SEND(&self->s.p, PUBCOMP, 0x02, ID_BYTES(id));

	reports_init(outcome, 3);
	outcome[0] = outcome[1] = -2;	/* not to be reported */
	wait_reports(_metadata, self->s.fd, outcome, 3);
	EXPECT_EQ(-2, outcome[0]);
	EXPECT_EQ(-2, outcome[1]);
	EXPECT_EQ(0, outcome[2]);
}

/* A PUBREC alone does not complete a QoS 2 message: no report yet. */
TEST_F(session, reports_qos2_only_after_pubcomp)
{
	int outcome[1];
	uint16_t id;

	set_int(_metadata, self->s.fd, MQTT_DELIVERY_REPORTS, 1);
	publish(_metadata, self->s.fd, "r", 2, "x", 1);
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(id));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(id));
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, QUIET_MS));
	PEER_SEND(&self->s.p, PUBCOMP, 0x02, ID_BYTES(id));
	reports_init(outcome, 1);
	wait_reports(_metadata, self->s.fd, outcome, 1);
	EXPECT_EQ(0, outcome[0]);
}

/* ---------------------------------------------------------------------- */
/* Receiving                                                               */
/* ---------------------------------------------------------------------- */

/* QoS 0 is delivered with its cmsgs and MSG_EOR, and not acknowledged. */
TEST_F(session, recv_qos0_delivered_not_acked)
{
	uint8_t buf[64];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH, "in/0", 0, "hello");
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "in/0", "hello", 5, 0, 0, 0);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/* QoS 1: PUBACK with the same identifier [MQTT-4.3.2-2]. */
TEST_F(session, recv_qos1_puback)
{
	uint8_t buf[64];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_QOS(1), "in/1",
			 0x1234, "one");
	PEER_EXPECT(&self->s.p, PUBACK, 0x02, 0x12, 0x34);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "in/1", "one", 3, 1, 0, 0);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/*
 * QoS 2 [MQTT-4.3.3-2]: PUBREC, delivered at once; PUBREL is answered
 * with PUBCOMP.
 */
TEST_F(session, recv_qos2_pubrec_then_pubcomp)
{
	uint8_t buf[64];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_QOS(2), "in/2",
			 0xfffe, "two");
	PEER_EXPECT(&self->s.p, PUBREC, 0x02, 0xff, 0xfe);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "in/2", "two", 3, 2, 0, 0);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	PEER_SEND(&self->s.p, PUBREL, 0x02, 0xff, 0xfe);
	PEER_EXPECT(&self->s.p, PUBCOMP, 0x02, 0xff, 0xfe);
	expect_no_msg(_metadata, self->s.fd);
}

/* RETAIN and DUP of an incoming PUBLISH are reported as they came. */
TEST_F(session, recv_retain_and_dup_flags)
{
	uint8_t buf[64];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p,
			 PUBLISH | PUB_DUP | PUB_QOS(1) | PUB_RETAIN, "in/r",
			 7, "kept");
	PEER_EXPECT(&self->s.p, PUBACK, 0x02, 0x00, 0x07);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "in/r", "kept", 4, 1, 1, 1);
	peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_RETAIN, "in/r",
			 0, "r0");
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "in/r", "r0", 2, 0, 1, 0);
}

/*
 * Acknowledgements go out in the order the PUBLISH packets came
 * [MQTT-4.6.0-2] [MQTT-4.6.0-3]; messages are delivered in that order.
 */
TEST_F(session, recv_acks_in_publish_order)
{
	static const struct { uint8_t qos; uint16_t id; } in[] = {
		{ 1, 0x0101 }, { 2, 0x0202 }, { 0, 0 }, { 1, 0x0303 },
		{ 2, 0x0404 }, { 2, 0x0505 }, { 1, 0x0606 }, { 0, 0 },
	};
	uint8_t burst[1024], buf[16];
	struct rmsg m;
	char payload[8];
	unsigned int i;
	size_t n = 0;

	for (i = 0; i < ARRAY_SIZE(in); i++) {
		snprintf(payload, sizeof(payload), "m%u", i);
		n += build_publish(burst + n, PUBLISH | PUB_QOS(in[i].qos),
				   "ord", 3, in[i].id, payload,
				   strlen(payload));
	}
	peer_send(_metadata, &self->s.p, burst, n);
	for (i = 0; i < ARRAY_SIZE(in); i++) {
		if (!in[i].qos)
			continue;
		PEER_EXPECT(&self->s.p, in[i].qos == 1 ? PUBACK : PUBREC, 0x02,
			    ID_BYTES(in[i].id));
	}
	PEER_SEND(&self->s.p, PUBREL, 0x02, 0x05, 0x05, PUBREL, 0x02, 0x02,
		  0x02, PUBREL, 0x02, 0x04, 0x04);
	PEER_EXPECT(&self->s.p, PUBCOMP, 0x02, 0x05, 0x05);
	PEER_EXPECT(&self->s.p, PUBCOMP, 0x02, 0x02, 0x02);
	PEER_EXPECT(&self->s.p, PUBCOMP, 0x02, 0x04, 0x04);
	for (i = 0; i < ARRAY_SIZE(in); i++) {
		snprintf(payload, sizeof(payload), "m%u", i);
		recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
		expect_msg(_metadata, &m, buf, "ord", payload,
			   strlen(payload), in[i].qos, 0, 0);
	}
	expect_no_msg(_metadata, self->s.fd);
}

/*
 * A QoS 2 PUBLISH whose identifier awaits PUBREL is the same message
 * again [MQTT-4.3.3-2]: PUBREC again, not delivered twice.  After the
 * PUBCOMP the identifier is free for a new message.
 */
TEST_F(session, recv_qos2_duplicate_not_delivered_twice)
{
	uint8_t buf[16];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_QOS(2), "dup",
			 9, "first");
	PEER_EXPECT(&self->s.p, PUBREC, 0x02, 0x00, 0x09);
	peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_DUP | PUB_QOS(2),
			 "dup", 9, "first");
	PEER_EXPECT(&self->s.p, PUBREC, 0x02, 0x00, 0x09);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "dup", "first", 5, 2, 0, 0);
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, POLLIN, QUIET_MS));

	PEER_SEND(&self->s.p, PUBREL, 0x02, 0x00, 0x09);
	PEER_EXPECT(&self->s.p, PUBCOMP, 0x02, 0x00, 0x09);
	peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_QOS(2), "dup",
			 9, "second");
	PEER_EXPECT(&self->s.p, PUBREC, 0x02, 0x00, 0x09);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "dup", "second", 6, 2, 0, 0);
}

/* A PUBREL for an unknown id (a resumed session) gets a PUBCOMP. */
TEST_F(session, recv_unknown_pubrel_answered_with_pubcomp)
{
	PEER_SEND(&self->s.p, PUBREL, 0x02, 0x00, 0x99);
	PEER_EXPECT(&self->s.p, PUBCOMP, 0x02, 0x00, 0x99);
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, QUIET_MS));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* A 0-byte message returns 0 with MSG_EOR, unlike end of file. */
TEST_F(session, recv_empty_message_has_eor)
{
	uint8_t buf[16];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH, "empty", 0, "");
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "empty", "", 0, 0, 0, 0);
}

/* A short buffer: filled, MSG_TRUNC, the rest of the message dropped. */
TEST_F(session, recv_short_buffer_truncates_and_consumes)
{
	uint8_t buf[16];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH, "tr", 0, "0123456789");
	peer_publish_str(_metadata, &self->s.p, PUBLISH, "tr", 0, "next");
	recv_wait(_metadata, &m, self->s.fd, buf, 4, 0);
	ASSERT_EQ(4, m.ret);
	EXPECT_EQ(0, memcmp(buf, "0123", 4));
	EXPECT_EQ(MSG_TRUNC, m.flags & MSG_TRUNC);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "tr", "next", 4, 0, 0, 0);
}

/* MSG_TRUNC in the call returns the full length. */
TEST_F(session, recv_msg_trunc_returns_full_length)
{
	uint8_t buf[16];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH, "tr", 0, "0123456789");
	recv_wait(_metadata, &m, self->s.fd, buf, 4, MSG_TRUNC);
	ASSERT_EQ(10, m.ret);
	EXPECT_EQ(0, memcmp(buf, "0123", 4));
	EXPECT_EQ(MSG_TRUNC, m.flags & MSG_TRUNC);
	expect_no_msg(_metadata, self->s.fd);
}

TEST_F(session, recv_peek_leaves_message_queued)
{
	uint8_t buf[16];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_QOS(1), "pk", 3,
			 "peek");
	PEER_EXPECT(&self->s.p, PUBACK, 0x02, 0x00, 0x03);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), MSG_PEEK);
	expect_msg(_metadata, &m, buf, "pk", "peek", 4, 1, 0, 0);
	memset(buf, 0, sizeof(buf));
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "pk", "peek", 4, 1, 0, 0);
	expect_no_msg(_metadata, self->s.fd);
}

/* A control buffer too small for the cmsgs: MSG_CTRUNC, data intact. */
TEST_F(session, recv_small_control_buffer_ctrunc)
{
	uint8_t buf[16];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH, "a/long/topic", 0,
			 "data");
	ASSERT_EQ(POLLIN, poll_fd(_metadata, self->s.fd, POLLIN,
				  PEER_TIMEOUT_MS));
	mqtt_recv_ctl(&m, self->s.fd, buf, sizeof(buf), 0,
		      CMSG_SPACE(sizeof(int)));
	ASSERT_EQ(4, m.ret);
	EXPECT_EQ(0, memcmp(buf, "data", 4));
	EXPECT_EQ(MSG_CTRUNC, m.flags & MSG_CTRUNC);
	expect_no_msg(_metadata, self->s.fd);
}

/* read() returns the payload alone. */
TEST_F(session, read_returns_payload)
{
	char buf[16];

	peer_publish_str(_metadata, &self->s.p, PUBLISH, "rd", 0, "plain");
	ASSERT_EQ(POLLIN, poll_fd(_metadata, self->s.fd, POLLIN,
				  PEER_TIMEOUT_MS));
	ASSERT_EQ(5, read(self->s.fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "plain", 5));
}

TEST_F(session, recv_empty_queue_dontwait_eagain)
{
	expect_no_msg(_metadata, self->s.fd);
}

TEST_F(session, recv_empty_queue_o_nonblock_eagain)
{
	char buf[4];

	set_nonblock(_metadata, self->s.fd);
	ASSERT_EQ(-1, recv(self->s.fd, buf, sizeof(buf), 0));
	ASSERT_EQ(EAGAIN, errno);
}

TEST_F(session, recv_rcvtimeo_expires_eagain)
{
	struct timeval tv = { .tv_usec = 300000 };
	int64_t start, elapsed;
	char buf[4];

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				sizeof(tv)));
	start = now_ms();
	ASSERT_EQ(-1, recv(self->s.fd, buf, sizeof(buf), 0));
	elapsed = now_ms() - start;
	ASSERT_EQ(EAGAIN, errno);
	EXPECT_LE(300 - EARLY_SLACK_MS, elapsed);
	EXPECT_GT(300 + LATE_SLACK_MS, elapsed);
}

/* A blocking recv waits for the next message. */
TEST_F(session, recv_blocks_until_message)
{
	struct timeval tv = { .tv_sec = PEER_TIMEOUT_MS / 1000 };
	uint8_t buf[16];
	struct rmsg m;

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				sizeof(tv)));
	peer_publish_str(_metadata, &self->s.p, PUBLISH, "bl", 0, "late");
	mqtt_recv(&m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "bl", "late", 4, 0, 0, 0);
}

/* POLLOUT while connected; POLLIN exactly while a message is queued. */
TEST_F(session, poll_pollin_while_message_queued)
{
	uint8_t buf[16];
	struct rmsg m;

	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->s.fd, POLLIN | POLLOUT,
				   0));
	peer_publish_str(_metadata, &self->s.p, PUBLISH, "pl", 0, "x");
	ASSERT_EQ(POLLIN, poll_fd(_metadata, self->s.fd, POLLIN,
				  PEER_TIMEOUT_MS));
	ASSERT_EQ(POLLIN | POLLOUT, poll_fd(_metadata, self->s.fd,
					    POLLIN | POLLOUT, 0));
	mqtt_recv(&m, self->s.fd, buf, sizeof(buf), 0);
	ASSERT_EQ(1, m.ret);
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->s.fd, POLLIN | POLLOUT,
				   0));
}

TEST_F(session, epoll_reports_message)
{
	struct epoll_event ev = { .events = EPOLLIN }, got;
	int ep = epoll_create1(0);

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->s.fd, &ev));
	ASSERT_EQ(0, epoll_wait(ep, &got, 1, 0));
	peer_publish_str(_metadata, &self->s.p, PUBLISH, "ep", 0, "x");
	ASSERT_EQ(1, epoll_wait(ep, &got, 1, PEER_TIMEOUT_MS));
	EXPECT_EQ(EPOLLIN, (int)(got.events & (EPOLLIN | EPOLLERR | EPOLLHUP)));
	close(ep);
}

/* A 65,535-byte topic arrives whole in the cmsg. */
TEST_F(session, recv_longest_topic)
{
	uint8_t *topic = malloc(MQTT_MAX_FIELD_LEN);
	uint8_t *pkt = malloc(MQTT_MAX_FIELD_LEN + 16);
	static struct rmsg m;
	uint8_t buf[16];
	size_t n;

	ASSERT_NE(NULL, topic);
	ASSERT_NE(NULL, pkt);
	fill_pattern(topic, MQTT_MAX_FIELD_LEN);
	n = build_publish(pkt, PUBLISH | PUB_QOS(1), topic,
			  MQTT_MAX_FIELD_LEN, 0x4242, "L", 1);
	peer_send(_metadata, &self->s.p, pkt, n);
	PEER_EXPECT(&self->s.p, PUBACK, 0x02, 0x42, 0x42);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	ASSERT_EQ(1, m.ret);
	ASSERT_EQ(MQTT_MAX_FIELD_LEN, m.topic_len);
	EXPECT_EQ(0, memcmp(m.topic, topic, MQTT_MAX_FIELD_LEN));
	free(topic);
	free(pkt);
}

/* One message is always admitted into an empty queue, however small. */
TEST_F(session, recv_message_larger_than_rcvbuf_admitted)
{
	const size_t len = 100 * 1024;
	int rcvbuf = 2048;
	uint8_t *payload = malloc(len), *pkt = malloc(len + 16);
	uint8_t *buf = malloc(len + 1);
	struct rmsg m;
	size_t n;

	ASSERT_NE(NULL, payload);
	ASSERT_NE(NULL, pkt);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				sizeof(rcvbuf)));
	fill_pattern(payload, len);
	n = build_publish(pkt, PUBLISH | PUB_QOS(1), "big", 3, 0x0b0b,
			  payload, len);
	peer_send(_metadata, &self->s.p, pkt, n);
	PEER_EXPECT(&self->s.p, PUBACK, 0x02, 0x0b, 0x0b);
	recv_wait(_metadata, &m, self->s.fd, buf, len + 1, 0);
	expect_msg(_metadata, &m, buf, "big", payload, len, 1, 0, 0);
	free(payload);
	free(pkt);
	free(buf);
}

/* A Remaining Length up to MQTT_RECV_MAX is accepted. */
TEST_F(session, recv_max_allows_packets_below_limit)
{
	uint8_t payload[900], pkt[1024], buf[1024];
	struct rmsg m;
	size_t n;

	set_int(_metadata, self->s.fd, MQTT_RECV_MAX, 1000);
	fill_pattern(payload, sizeof(payload));
	n = build_publish(pkt, PUBLISH, "rm", 2, 0, payload,
			  sizeof(payload));
	peer_send(_metadata, &self->s.p, pkt, n);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "rm", payload, sizeof(payload),
		   0, 0, 0);
}

/* ---------------------------------------------------------------------- */
/* Back-pressure: a full receive queue stops reading TCP                   */
/* ---------------------------------------------------------------------- */

#define BP_PAYLOAD	1024
/* Type, a 2-byte Remaining Length, topic "bp", payload. */
#define BP_PKT		(1 + 2 + 2 + 2 + BP_PAYLOAD)
/* The peer gives up hoping for back-pressure after this much. */
#define BP_MAX_BYTES	(16 << 20)

/* Message seq: QoS 0 on "bp", the number in its first 4 bytes. */
static void bp_packet(uint8_t *pkt, uint32_t seq)
{
	uint8_t payload[BP_PAYLOAD];

	fill_pattern(payload, sizeof(payload));
	payload[0] = seq >> 24;
	payload[1] = seq >> 16;
	payload[2] = seq >> 8;
	payload[3] = seq;
	build_publish(pkt, PUBLISH, "bp", 2, 0, payload, sizeof(payload));
}

struct bp_writer {
	int fd;
	uint32_t seq, end;	/* messages seq..end-1 still to send */
	size_t off;		/* bytes of message seq already sent */
	int err;
	pthread_t thread;
};

/* The rest of the messages, blocking (SO_SNDTIMEO bounds each send). */
static void *bp_write_main(void *arg)
{
	struct bp_writer *w = arg;
	uint8_t pkt[BP_PKT];
	ssize_t n;

	for (; w->seq < w->end; w->seq++, w->off = 0) {
		bp_packet(pkt, w->seq);
		while (w->off < sizeof(pkt)) {
			n = send(w->fd, pkt + w->off, sizeof(pkt) - w->off,
				 MSG_NOSIGNAL);
			if (n <= 0) {
				w->err = n ? errno : EPIPE;
				return NULL;
			}
			w->off += n;
		}
	}
	return NULL;
}

/*
 * With SO_RCVBUF small, the peer's sends block once the queue and the TCP
 * windows are full; after the application reads, every message arrives
 * once and in order.
 */
TEST_F(session, recv_backpressure_blocks_peer_loses_nothing)
{
	struct timeval tv = { .tv_sec = PEER_TIMEOUT_MS / 1000 };
	struct bp_writer w = { .fd = self->s.p.pfd };
	int rcvbuf = 8192, sndbuf = 16384;
	uint8_t pkt[BP_PKT], buf[BP_PAYLOAD + 1], want[BP_PAYLOAD];
	struct rmsg m;
	uint32_t seq;
	ssize_t n;

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				sizeof(rcvbuf)));
	ASSERT_EQ(0, setsockopt(w.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				sizeof(sndbuf)));
	ASSERT_EQ(0, setsockopt(w.fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				sizeof(tv)));

	/* Send without blocking until nothing moves for a second. */
	for (;;) {
		ASSERT_GT(BP_MAX_BYTES / BP_PKT, (int)w.seq)
			TH_LOG("%u messages sent and still no back-pressure",
			       w.seq);
		bp_packet(pkt, w.seq);
		n = send(w.fd, pkt + w.off, sizeof(pkt) - w.off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			int err = errno;

			TH_LOG("client SO_ERROR: %s",
			       strerror(so_error(_metadata, self->s.fd)));
			ASSERT_EQ(EAGAIN, err)
				TH_LOG("peer send after %u messages: %s",
				       w.seq, strerror(err));
		}
		if (n < 0) {
			if (!(poll_fd(_metadata, w.fd, POLLOUT, 1000) &
			      POLLOUT))
				break;
			continue;
		}
		w.off += n;
		if (w.off == sizeof(pkt)) {
			w.seq++;
			w.off = 0;
		}
	}
	TH_LOG("the peer blocked after %u messages", w.seq);
	ASSERT_EQ(POLLIN, poll_fd(_metadata, self->s.fd, POLLIN, 0));

	/* Reading lets the rest through. */
	w.end = w.seq + 200;
	ASSERT_EQ(0, pthread_create(&w.thread, NULL, bp_write_main, &w));
	for (seq = 0; seq < w.end; seq++) {
		bp_packet(pkt, seq);
		memcpy(want, pkt + BP_PKT - BP_PAYLOAD, BP_PAYLOAD);
		recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
		ASSERT_EQ(BP_PAYLOAD, m.ret);
		ASSERT_EQ(0, memcmp(buf, want, BP_PAYLOAD))
			TH_LOG("message %u: got number %u", seq,
			       buf[0] << 24 | buf[1] << 16 | buf[2] << 8 |
			       buf[3]);
	}
	ASSERT_EQ(0, pthread_join(w.thread, NULL));
	ASSERT_EQ(0, w.err) TH_LOG("peer: %s", strerror(w.err));
	expect_no_msg(_metadata, self->s.fd);
}

/* ---------------------------------------------------------------------- */
/* Ending the session                                                      */
/* ---------------------------------------------------------------------- */

/* Without SO_LINGER, close() sends DISCONNECT at once, in flight or not. */
TEST_F(session, close_with_inflight_sends_disconnect_at_once)
{
	int64_t start;

	publish(_metadata, self->s.fd, "c", 1, "x", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	start = now_ms();
	close(self->s.fd);
	self->s.fd = -1;
	EXPECT_GT(start + LATE_SLACK_MS, now_ms());
	peer_expect_disconnect(_metadata, &self->s.p);
}

/* SO_LINGER {1, N}: close() waits until every message is acknowledged. */
TEST_F(session, linger_close_waits_for_pubacks)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 10 };
	struct async a = { .fn = do_close };
	uint16_t x, y;

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_LINGER, &lg,
				sizeof(lg)));
	publish(_metadata, self->s.fd, "c", 1, "x", 1);
	x = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	publish(_metadata, self->s.fd, "c", 1, "y", 1);
	y = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));

	a.fd = self->s.fd;
	self->s.fd = -1;
	async_start(_metadata, &a);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	ASSERT_FALSE(async_done(&a, 0)) TH_LOG("close() did not wait");
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(x));
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	ASSERT_FALSE(async_done(&a, 0)) TH_LOG("close() did not wait");
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(y));
	peer_expect_disconnect(_metadata, &self->s.p);
	async_join(_metadata, &a);
	EXPECT_EQ(0, a.ret);
}

/* A QoS 2 message is done at PUBCOMP, not PUBREC. */
TEST_F(session, linger_close_waits_for_pubcomp)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 10 };
	struct async a = { .fn = do_close };
	uint16_t id;

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_LINGER, &lg,
				sizeof(lg)));
	publish(_metadata, self->s.fd, "c", 2, "x", 1);
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	a.fd = self->s.fd;
	self->s.fd = -1;
	async_start(_metadata, &a);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(id));
	PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(id));
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
	ASSERT_FALSE(async_done(&a, 0)) TH_LOG("close() did not wait");
	PEER_SEND(&self->s.p, PUBCOMP, 0x02, ID_BYTES(id));
	peer_expect_disconnect(_metadata, &self->s.p);
	async_join(_metadata, &a);
}

/* The linger time bounds the wait; DISCONNECT follows anyway. */
TEST_F(session, linger_close_times_out_then_disconnects)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 1 };
	struct async a = { .fn = do_close };
	int64_t waited;

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_LINGER, &lg,
				sizeof(lg)));
	publish(_metadata, self->s.fd, "c", 1, "x", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	a.fd = self->s.fd;
	self->s.fd = -1;
	async_start(_metadata, &a);
	peer_expect_disconnect(_metadata, &self->s.p);
	async_join(_metadata, &a);
	waited = a.end - a.start;
	EXPECT_LE(1000 - PING_EARLY_MS, waited);
	EXPECT_GE(1000 + PING_LATE_MS, waited);
}

/* Nothing in flight: a lingering close does not wait. */
TEST_F(session, linger_close_nothing_inflight_at_once)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 10 };
	int64_t start;

	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_LINGER, &lg,
				sizeof(lg)));
	publish(_metadata, self->s.fd, "c", 0, "x", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH);
	start = now_ms();
	close(self->s.fd);
	self->s.fd = -1;
	EXPECT_GT(start + LATE_SLACK_MS, now_ms());
	peer_expect_disconnect(_metadata, &self->s.p);
}

/* SO_LINGER {1, 0}: no DISCONNECT, in flight or not (the will fires). */
TEST_F(session, abortive_close_with_inflight_sends_nothing)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	publish(_metadata, self->s.fd, "c", 1, "x", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	ASSERT_EQ(0, setsockopt(self->s.fd, SOL_SOCKET, SO_LINGER, &lg,
				sizeof(lg)));
	close(self->s.fd);
	self->s.fd = -1;
	peer_expect_silent_close(_metadata, &self->s.p);
}

/* shutdown(SHUT_WR): DISCONNECT and FIN; sending then fails EPIPE. */
TEST_F(session, shutdown_wr_sends_disconnect_then_send_epipe)
{
	struct pub o = { .topic = "c", .topic_len = 1, .qos = NO_CMSG,
			 .retain = NO_CMSG };

	ASSERT_EQ(0, shutdown(self->s.fd, SHUT_WR));
	peer_expect_disconnect(_metadata, &self->s.p);
	ASSERT_EQ(-EPIPE, mqtt_send(self->s.fd, &o, "x", 1, MSG_NOSIGNAL));
}

/* Without MSG_NOSIGNAL the failed send raises SIGPIPE, as TCP does. */
TEST_F(session, write_after_shutdown_raises_sigpipe)
{
	struct sigaction sa = { .sa_handler = count_signal };

	ASSERT_EQ(0, sigaction(SIGPIPE, &sa, NULL));
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "c", 1);
	ASSERT_EQ(0, shutdown(self->s.fd, SHUT_WR));
	signals_caught = 0;
	ASSERT_EQ(-1, write(self->s.fd, "x", 1));
	ASSERT_EQ(EPIPE, errno);
	ASSERT_EQ(1, signals_caught);
}

/*
 * After shutdown(SHUT_WR) queued messages are still read, then EOF;
 * the broker closing after our DISCONNECT is no error.
 */
TEST_F(session, recv_after_shutdown_and_broker_close_queued_then_eof)
{
	uint8_t buf[16];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH, "q", 0, "queued");
	ASSERT_EQ(POLLIN, poll_fd(_metadata, self->s.fd, POLLIN,
				  PEER_TIMEOUT_MS));
	ASSERT_EQ(0, shutdown(self->s.fd, SHUT_WR));
	peer_expect_disconnect(_metadata, &self->s.p);
	close(self->s.p.pfd);
	self->s.p.pfd = -1;
	ASSERT_EQ(POLLHUP, poll_fd(_metadata, self->s.fd, 0, PEER_TIMEOUT_MS) &
			   POLLHUP);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "q", "queued", 6, 0, 0, 0);
	mqtt_recv(&m, self->s.fd, buf, sizeof(buf), MSG_DONTWAIT);
	ASSERT_EQ(0, m.ret) TH_LOG("recv: %s", strerror(-m.ret));
	EXPECT_EQ(0, m.flags & MSG_EOR);
	EXPECT_EQ(0, so_error(_metadata, self->s.fd));
}

/* ... and also while the broker has not closed yet. */
TEST_F(session, recv_after_shutdown_returns_queued_then_eof)
{
	uint8_t buf[16];
	struct rmsg m;

	peer_publish_str(_metadata, &self->s.p, PUBLISH, "q", 0, "queued");
	ASSERT_EQ(POLLIN, poll_fd(_metadata, self->s.fd, POLLIN,
				  PEER_TIMEOUT_MS));
	ASSERT_EQ(0, shutdown(self->s.fd, SHUT_WR));
	peer_expect_disconnect(_metadata, &self->s.p);
	recv_wait(_metadata, &m, self->s.fd, buf, sizeof(buf), 0);
	expect_msg(_metadata, &m, buf, "q", "queued", 6, 0, 0, 0);
	mqtt_recv(&m, self->s.fd, buf, sizeof(buf), MSG_DONTWAIT);
	ASSERT_EQ(0, m.ret) TH_LOG("recv: %s", strerror(-m.ret));
	EXPECT_EQ(0, m.flags & MSG_EOR);
}

/*
 * The socket outlives its creator's fd: a child holds the only reference
 * and ends as the test says.  exit_code < 0: killed by that signal.
 */
static void end_in_child(struct __test_metadata *_metadata, struct sess *s,
			 int sig)
{
	int go[2], status;
	pid_t pid;
	char token;

	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* Never wait forever, whatever the parent does. */
		alarm(PEER_TIMEOUT_MS / 1000 * 2);
		close(go[1]);
		if (read(go[0], &token, 1) != 1)
			_exit(2);
		_exit(0);
	}
	close(go[0]);
	close(s->fd);
	s->fd = -1;
	if (sig) {
		ASSERT_EQ(0, kill(pid, sig));
	} else {
		ASSERT_EQ(1, write(go[1], "g", 1));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(go[1]);
	if (sig) {
		ASSERT_TRUE(WIFSIGNALED(status));
		ASSERT_EQ(sig, WTERMSIG(status));
	} else {
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status));
	}
}

/* A process exiting normally without close() says DISCONNECT. */
TEST_F(session, owner_exit_sends_disconnect)
{
	end_in_child(_metadata, &self->s, 0);
	peer_expect_disconnect(_metadata, &self->s.p);
}

/* A process killed by a signal does not: the broker publishes the will. */
TEST_F(session, owner_sigkill_sends_no_disconnect)
{
	end_in_child(_metadata, &self->s, SIGKILL);
	peer_expect_silent_close(_metadata, &self->s.p);
}

TEST_F(session, owner_sigterm_sends_no_disconnect)
{
	end_in_child(_metadata, &self->s, SIGTERM);
	peer_expect_silent_close(_metadata, &self->s.p);
}

/* ---------------------------------------------------------------------- */
/* The broker ends the session                                             */
/* ---------------------------------------------------------------------- */

FIXTURE(peer_close) {
	struct sess s;
};

FIXTURE_VARIANT(peer_close) {
	bool reset;
};

FIXTURE_VARIANT_ADD(peer_close, fin) { .reset = false };
FIXTURE_VARIANT_ADD(peer_close, rst) { .reset = true };

FIXTURE_SETUP(peer_close)
{
	sess_init(_metadata, &self->s, AF_INET);
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(peer_close)
{
	sess_fini(&self->s);
}

static void peer_hang_up(struct __test_metadata *_metadata, struct peer *p,
			 bool reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (reset) {
		ASSERT_EQ(0, setsockopt(p->pfd, SOL_SOCKET, SO_LINGER, &lg,
					sizeof(lg)));
		close(p->pfd);
		p->pfd = -1;
	} else {
		ASSERT_EQ(0, shutdown(p->pfd, SHUT_WR));
	}
}

/* FIN or RST from the broker: ECONNRESET, in-flight messages lost. */
TEST_F(peer_close, session_ends_econnreset_inflight_reported)
{
	int outcome[3];
	uint16_t id;
	short ev;

	set_int(_metadata, self->s.fd, MQTT_DELIVERY_REPORTS, 1);
	publish(_metadata, self->s.fd, "p", 1, "0", 1);
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	publish(_metadata, self->s.fd, "p", 2, "1", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(2));
	publish(_metadata, self->s.fd, "p", 1, "2", 1);
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(id));
	wait_inflight(_metadata, self->s.fd, 2);

	peer_hang_up(_metadata, &self->s.p, variant->reset);
	ev = wait_session_end(_metadata, self->s.fd);
	EXPECT_EQ(POLLIN | POLLRDHUP, ev & (POLLIN | POLLRDHUP));
	reports_init(outcome, 3);
	wait_reports(_metadata, self->s.fd, outcome, 3);
	EXPECT_EQ(0, outcome[0]) TH_LOG("%s", strerror(outcome[0]));
	EXPECT_EQ(ECONNRESET, outcome[1]) TH_LOG("%s", strerror(outcome[1]));
	EXPECT_EQ(ECONNRESET, outcome[2]) TH_LOG("%s", strerror(outcome[2]));
	ASSERT_EQ(ECONNRESET, so_error(_metadata, self->s.fd));
	if (!variant->reset)
		peer_expect_silent_close(_metadata, &self->s.p);
}

/* The error is reported once; then recv gives end of file. */
TEST_F(peer_close, recv_econnreset_then_eof)
{
	uint8_t buf[8];
	struct rmsg m;

	peer_hang_up(_metadata, &self->s.p, variant->reset);
	wait_session_end(_metadata, self->s.fd);
	mqtt_recv(&m, self->s.fd, buf, sizeof(buf), MSG_DONTWAIT);
	ASSERT_EQ(-ECONNRESET, m.ret);
	mqtt_recv(&m, self->s.fd, buf, sizeof(buf), 0);
	ASSERT_EQ(0, m.ret);
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* ---------------------------------------------------------------------- */
/* SUBSCRIBE and UNSUBSCRIBE with valid filters [MQTT-4.7.1]               */
/* ---------------------------------------------------------------------- */

FIXTURE(sub_ok) {
	struct sess s;
	struct sub_buf b;
};

FIXTURE_VARIANT(sub_ok) {
	const char *filter;	/* NULL: 65,535 pattern bytes */
	int qos;		/* requested */
	uint8_t code;		/* the SUBACK return code */
};

FIXTURE_VARIANT_ADD(sub_ok, topic_qos0) { .filter = "a/b", .qos = 0 };
FIXTURE_VARIANT_ADD(sub_ok, topic_qos1) {
	.filter = "a/b", .qos = 1, .code = 1,
};
FIXTURE_VARIANT_ADD(sub_ok, topic_qos2) {
	.filter = "a/b", .qos = 2, .code = 2,
};
/* The broker may grant less than asked [MQTT-3.9.3]. */
FIXTURE_VARIANT_ADD(sub_ok, qos2_granted_1) {
	.filter = "a/b", .qos = 2, .code = 1,
};
FIXTURE_VARIANT_ADD(sub_ok, qos1_granted_0) {
	.filter = "a/b", .qos = 1, .code = 0,
};
FIXTURE_VARIANT_ADD(sub_ok, plus_alone) { .filter = "+", .qos = 1, .code = 1 };
FIXTURE_VARIANT_ADD(sub_ok, plus_inside) {
	.filter = "a/+/b", .qos = 1, .code = 1,
};
FIXTURE_VARIANT_ADD(sub_ok, plus_first) {
	.filter = "+/x", .qos = 1, .code = 1,
};
FIXTURE_VARIANT_ADD(sub_ok, plus_last) { .filter = "x/+", .qos = 0 };
FIXTURE_VARIANT_ADD(sub_ok, hash_alone) { .filter = "#", .qos = 2, .code = 2 };
FIXTURE_VARIANT_ADD(sub_ok, hash_last) { .filter = "a/#", .qos = 0 };
FIXTURE_VARIANT_ADD(sub_ok, plus_and_hash) { .filter = "+/+/#", .qos = 1,
					     .code = 1 };
FIXTURE_VARIANT_ADD(sub_ok, empty_levels) { .filter = "a//b/", .qos = 0 };
FIXTURE_VARIANT_ADD(sub_ok, slash_alone) { .filter = "/", .qos = 0 };
FIXTURE_VARIANT_ADD(sub_ok, multibyte_utf8) {
	.filter = "caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80", .qos = 0,
};
FIXTURE_VARIANT_ADD(sub_ok, dollar_topic) { .filter = "$SYS/#", .qos = 0 };
FIXTURE_VARIANT_ADD(sub_ok, longest_filter) { .qos = 1, .code = 1 };

FIXTURE_SETUP(sub_ok)
{
	sess_init(_metadata, &self->s, AF_INET);
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(sub_ok)
{
	sess_fini(&self->s);
}

static size_t sub_ok_filter(const FIXTURE_VARIANT(sub_ok) *variant,
			    char *buf)
{
	if (!variant->filter) {
		fill_pattern((uint8_t *)buf, MQTT_MAX_FIELD_LEN);
		return MQTT_MAX_FIELD_LEN;
	}
	memcpy(buf, variant->filter, strlen(variant->filter));
	return strlen(variant->filter);
}

/*
 * SUBSCRIBE: flags 0010 [MQTT-3.8.1-1], a packet identifier, the filter,
 * the requested QoS; the call returns once the SUBACK came, with the
 * granted QoS [MQTT-3.9.3-1].
 */
TEST_F(sub_ok, subscribe_sends_subscribe_returns_granted_qos)
{
	static char filter[MQTT_MAX_FIELD_LEN];
	size_t len = sub_ok_filter(variant, filter);
	socklen_t optlen = sub_fill(&self->b, variant->qos, filter, len);
	struct async a = { };
	uint16_t id;

	async_setsockopt(_metadata, &a, self->s.fd, MQTT_SUBSCRIBE, &self->b,
			 optlen);
	id = peer_subscribe(_metadata, &self->s.p, filter, len, variant->qos);
	ASSERT_FALSE(async_done(&a, QUIET_MS))
		TH_LOG("returned before the SUBACK: %s", strerror(a.err));
	PEER_SEND(&self->s.p, SUBACK, 0x03, ID_BYTES(id), variant->code);
	async_join(_metadata, &a);
	ASSERT_EQ(0, a.ret) TH_LOG("subscribe: %s", strerror(a.err));
	EXPECT_EQ(variant->code, self->b.sub.qos);
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* UNSUBSCRIBE: flags 0010 [MQTT-3.10.1-1], returns at the UNSUBACK. */
TEST_F(sub_ok, unsubscribe_sends_unsubscribe)
{
	static char filter[MQTT_MAX_FIELD_LEN];
	size_t len = sub_ok_filter(variant, filter);
	struct async a = { };
	uint16_t id;

	async_setsockopt(_metadata, &a, self->s.fd, MQTT_UNSUBSCRIBE, filter,
			 len);
	id = peer_unsubscribe(_metadata, &self->s.p, filter, len);
	ASSERT_FALSE(async_done(&a, QUIET_MS))
		TH_LOG("returned before the UNSUBACK: %s", strerror(a.err));
	PEER_SEND(&self->s.p, UNSUBACK, 0x02, ID_BYTES(id));
	async_join(_metadata, &a);
	ASSERT_EQ(0, a.ret) TH_LOG("unsubscribe: %s", strerror(a.err));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* SUBACK 0x80: the broker refused the subscription. */
TEST_F(session, subscribe_refused_eacces)
{
	struct sub_buf b;
	socklen_t len = sub_fill(&b, 1, "no/way", 6);
	struct async a = { };
	uint16_t id;

	async_setsockopt(_metadata, &a, self->s.fd, MQTT_SUBSCRIBE, &b, len);
	id = peer_subscribe(_metadata, &self->s.p, "no/way", 6, 1);
	PEER_SEND(&self->s.p, SUBACK, 0x03, ID_BYTES(id), 0x80);
	async_join(_metadata, &a);
	ASSERT_EQ(-1, a.ret);
	ASSERT_EQ(EACCES, a.err);
	/* The session goes on. */
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, QUIET_MS));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* The granted QoS cannot be written back (the request sits in a page
 * made read-only): EFAULT, although the broker granted it; the session
 * goes on, and the subscription is the broker's.
 */
TEST_F(session, subscribe_granted_qos_unwritable_efault)
{
	long page = sysconf(_SC_PAGESIZE);
	struct async a = { };
	struct sub_buf *b;
	socklen_t len;
	uint16_t id;

	b = mmap(NULL, page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, b);
	len = sub_fill(b, 2, "ro/page", 7);
	ASSERT_EQ(0, mprotect(b, page, PROT_READ));

	async_setsockopt(_metadata, &a, self->s.fd, MQTT_SUBSCRIBE, b, len);
	id = peer_subscribe(_metadata, &self->s.p, "ro/page", 7, 2);
	PEER_SEND(&self->s.p, SUBACK, 0x03, ID_BYTES(id), 0x01);
	async_join(_metadata, &a);
	EXPECT_EQ(-1, a.ret);
	EXPECT_EQ(EFAULT, a.err);
	/* Nothing was written, and the session goes on. */
	EXPECT_EQ(2, b->sub.qos);
	ASSERT_EQ(0, munmap(b, page));
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, QUIET_MS));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* No SUBACK within MQTT_ACK_TIMEOUT: ETIMEDOUT; a late one is ignored. */
TEST_F(session, subscribe_ack_timeout_etimedout_late_suback_ignored)
{
	const int timeout_ms = 300;
	struct sub_buf b;
	socklen_t len = sub_fill(&b, 0, "slow", 4);
	int64_t start, elapsed;
	uint16_t id;
	int ret;

	set_int(_metadata, self->s.fd, MQTT_ACK_TIMEOUT, timeout_ms);
	start = now_ms();
	ret = setsockopt(self->s.fd, SOL_MQTT, MQTT_SUBSCRIBE, &b, len);
	elapsed = now_ms() - start;
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(ETIMEDOUT, errno);
	EXPECT_LE(timeout_ms - EARLY_SLACK_MS, elapsed);
	EXPECT_GT(timeout_ms + LATE_SLACK_MS, elapsed);

	id = peer_subscribe(_metadata, &self->s.p, "slow", 4, 0);
	PEER_SEND(&self->s.p, SUBACK, 0x03, ID_BYTES(id), 0x00);
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, QUIET_MS));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
	/* Still a working session. */
	publish(_metadata, self->s.fd, "after", 1, "x", 1);
	id = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(id));
	wait_inflight(_metadata, self->s.fd, 0);
}

TEST_F(session, unsubscribe_ack_timeout_etimedout_late_unsuback_ignored)
{
	const int timeout_ms = 300;
	int64_t start, elapsed;
	uint16_t id;
	int ret;

	set_int(_metadata, self->s.fd, MQTT_ACK_TIMEOUT, timeout_ms);
	start = now_ms();
	ret = setsockopt(self->s.fd, SOL_MQTT, MQTT_UNSUBSCRIBE, "slow", 4);
	elapsed = now_ms() - start;
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(ETIMEDOUT, errno);
	EXPECT_LE(timeout_ms - EARLY_SLACK_MS, elapsed);
	EXPECT_GT(timeout_ms + LATE_SLACK_MS, elapsed);

	id = peer_unsubscribe(_metadata, &self->s.p, "slow", 4);
	PEER_SEND(&self->s.p, UNSUBACK, 0x02, ID_BYTES(id));
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, QUIET_MS));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* A signal interrupts the wait for SUBACK: EINTR, the session goes on. */
TEST_F(session, subscribe_interrupted_by_signal_eintr)
{
	/* No SA_RESTART: the call must return. */
	struct sigaction sa = { .sa_handler = count_signal };
	struct itimerval tick = { .it_value.tv_usec = 200000,
				  .it_interval.tv_usec = 200000 };
	struct itimerval off = { };
	struct sub_buf b;
	socklen_t len = sub_fill(&b, 1, "sig", 3);
	uint16_t id;
	int ret;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	signals_caught = 0;
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &tick, NULL));
	ret = setsockopt(self->s.fd, SOL_MQTT, MQTT_SUBSCRIBE, &b, len);
	setitimer(ITIMER_REAL, &off, NULL);
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(EINTR, errno);
	ASSERT_LT(0, signals_caught);

	id = peer_subscribe(_metadata, &self->s.p, "sig", 3, 1);
	PEER_SEND(&self->s.p, SUBACK, 0x03, ID_BYTES(id), 0x01);
	ASSERT_EQ(0, poll_fd(_metadata, self->s.fd, 0, QUIET_MS));
	ASSERT_EQ(0, so_error(_metadata, self->s.fd));
}

/* SUBSCRIBE takes an identifier no PUBLISH in flight holds. */
TEST_F(session, subscribe_id_distinct_from_inflight_publish)
{
	struct sub_buf b;
	socklen_t len = sub_fill(&b, 0, "s", 1);
	struct async a = { };
	struct publish p;
	uint16_t pid, sid;

	publish(_metadata, self->s.fd, "p", 1, "x", 1);
	pid = peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	async_setsockopt(_metadata, &a, self->s.fd, MQTT_SUBSCRIBE, &b, len);
	sid = peer_subscribe(_metadata, &self->s.p, "s", 1, 0);
	ASSERT_NE(pid, sid);
	/* And a PUBLISH sent meanwhile avoids both. */
	publish(_metadata, self->s.fd, "p", 2, "y", 1);
	ASSERT_EQ(PUBLISH | PUB_QOS(2), peer_next(_metadata, &self->s.p));
	ASSERT_TRUE(parse_publish(self->s.p.pkt, self->s.p.pkt_hdr,
				  self->s.p.pkt_len, &p));
	ASSERT_NE(pid, p.id);
	ASSERT_NE(sid, p.id);
	PEER_SEND(&self->s.p, SUBACK, 0x03, ID_BYTES(sid), 0x00);
	async_join(_metadata, &a);
	ASSERT_EQ(0, a.ret) TH_LOG("subscribe: %s", strerror(a.err));
	PEER_SEND(&self->s.p, PUBACK, 0x02, ID_BYTES(pid));
}

/* Malformed subscription requests: EINVAL, nothing sent. */
TEST_F(session, subscribe_bad_request_einval)
{
	struct sub_buf b;
	socklen_t len;
	int i;

	for (i = 0; i < 7; i++) {
		len = sub_fill(&b, 1, "a/b", 3);
		switch (i) {
		case 0:
			len++;			/* optlen beyond the filter */
			break;
		case 1:
			len--;			/* optlen short of it */
			break;
		case 2:
			/* Not even the struct. */
			len = sizeof(b.sub) - 1;
			break;
		case 3:
			b.sub.reserved = 1;
			break;
		case 4:
			b.sub.qos = 3;
			break;
		case 5:
			b.sub.qos = 0x81;
			break;
		case 6:
			b.sub.filter_len = 0;	/* an empty filter */
			len = sizeof(b.sub);
			break;
		}
		ASSERT_EQ(-1, setsockopt(self->s.fd, SOL_MQTT, MQTT_SUBSCRIBE,
					 &b, len))
			TH_LOG("case %d accepted", i);
		ASSERT_EQ(EINVAL, errno) TH_LOG("case %d", i);
	}
	ASSERT_EQ(-1, setsockopt(self->s.fd, SOL_MQTT, MQTT_UNSUBSCRIBE,
				 "", 0));
	ASSERT_EQ(EINVAL, errno);
	/* A filter longer than MQTT can carry (filter_len cannot say it). */
	fill_pattern((uint8_t *)b.filter, MQTT_MAX_FIELD_LEN + 1);
	ASSERT_EQ(-1, setsockopt(self->s.fd, SOL_MQTT, MQTT_UNSUBSCRIBE,
				 b.filter, MQTT_MAX_FIELD_LEN + 1));
	ASSERT_EQ(EINVAL, errno);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/* ---------------------------------------------------------------------- */
/* Invalid topic filters [MQTT-4.7.1-1..3] [MQTT-4.7.3-1/2] [MQTT-1.5.3]   */
/* ---------------------------------------------------------------------- */

FIXTURE(bad_filter) {
	struct sess s;
	struct sub_buf b;
};

FIXTURE_VARIANT(bad_filter) {
	const char *filter;
	size_t len;
};

#define BAD_FILTER(name, s) \
	FIXTURE_VARIANT_ADD(bad_filter, name) { \
		.filter = (s), .len = sizeof(s) - 1, \
	}

BAD_FILTER(plus_after_char, "a+");
BAD_FILTER(plus_before_char, "+a");
BAD_FILTER(plus_inside_level, "a/b+c/d");
BAD_FILTER(hash_not_last, "a/#/b");
BAD_FILTER(hash_after_char, "a#");
BAD_FILTER(hash_before_char, "#a");
BAD_FILTER(hash_in_last_level, "a/b#");
BAD_FILTER(double_hash, "##");
BAD_FILTER(nul, "a/\0/b");
BAD_FILTER(utf8_truncated, "a/\xe2\x82");
BAD_FILTER(utf8_bad_continuation, "\xc3\x28");
BAD_FILTER(utf8_overlong, "\xc0\xaf");
BAD_FILTER(utf8_surrogate, "\xed\xa0\x80");
BAD_FILTER(utf8_above_max, "\xf4\x90\x80\x80");
BAD_FILTER(utf8_ff, "a\xff");

FIXTURE_SETUP(bad_filter)
{
	sess_init(_metadata, &self->s, AF_INET);
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(bad_filter)
{
	sess_fini(&self->s);
}

TEST_F(bad_filter, subscribe_einval_nothing_sent)
{
	socklen_t len = sub_fill(&self->b, 0, variant->filter, variant->len);

	ASSERT_EQ(-1, setsockopt(self->s.fd, SOL_MQTT, MQTT_SUBSCRIBE,
				 &self->b, len));
	ASSERT_EQ(EINVAL, errno);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

TEST_F(bad_filter, unsubscribe_einval_nothing_sent)
{
	ASSERT_EQ(-1, setsockopt(self->s.fd, SOL_MQTT, MQTT_UNSUBSCRIBE,
				 variant->filter, variant->len));
	ASSERT_EQ(EINVAL, errno);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/* ---------------------------------------------------------------------- */
/* Invalid topic names [MQTT-3.3.2-2] [MQTT-4.7.3-1] [MQTT-1.5.3]          */
/* ---------------------------------------------------------------------- */

FIXTURE(bad_topic) {
	struct sess s;
};

FIXTURE_VARIANT(bad_topic) {
	const char *topic;	/* NULL: 65,536 pattern bytes */
	size_t len;
};

#define BAD_TOPIC(name, s) \
	FIXTURE_VARIANT_ADD(bad_topic, name) { \
		.topic = (s), .len = sizeof(s) - 1, \
	}

BAD_TOPIC(empty, "");
BAD_TOPIC(plus, "+");
BAD_TOPIC(plus_level, "a/+/b");
BAD_TOPIC(plus_in_level, "a+b");
BAD_TOPIC(hash, "#");
BAD_TOPIC(hash_last, "a/#");
BAD_TOPIC(nul, "a\0b");
BAD_TOPIC(utf8_truncated, "a/\xe2\x82");
BAD_TOPIC(utf8_bad_continuation, "\xc3\x28");
BAD_TOPIC(utf8_overlong, "\xc0\xaf");
BAD_TOPIC(utf8_surrogate, "\xed\xa0\x80");
BAD_TOPIC(utf8_above_max, "\xf4\x90\x80\x80");
BAD_TOPIC(utf8_ff, "a\xff");
FIXTURE_VARIANT_ADD(bad_topic, too_long) { .len = MQTT_MAX_FIELD_LEN + 1 };

FIXTURE_SETUP(bad_topic)
{
	sess_init(_metadata, &self->s, AF_INET);
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(bad_topic)
{
	sess_fini(&self->s);
}

static const char *bad_topic_bytes(const FIXTURE_VARIANT(bad_topic) *v)
{
	static char buf[MQTT_MAX_FIELD_LEN + 1];

	if (v->topic)
		return v->topic;
	fill_pattern((uint8_t *)buf, v->len);
	return buf;
}

/* setsockopt refuses it and keeps the old default. */
TEST_F(bad_topic, default_topic_einval_old_kept)
{
	char buf[8];
	socklen_t len = sizeof(buf);

	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "good", 4);
	ASSERT_EQ(-1, setsockopt(self->s.fd, SOL_MQTT, MQTT_PUBLISH_TOPIC,
				 bad_topic_bytes(variant), variant->len));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, get_opt(self->s.fd, MQTT_PUBLISH_TOPIC, buf, &len));
	ASSERT_EQ(4, (int)len);
	EXPECT_EQ(0, memcmp(buf, "good", 4));
}

/* As a cmsg: the send fails EINVAL and nothing goes out. */
TEST_F(bad_topic, cmsg_topic_einval_nothing_sent)
{
	struct pub o = { .topic = bad_topic_bytes(variant),
			 .topic_len = variant->len, .qos = NO_CMSG,
			 .retain = NO_CMSG };

	ssize_t ret;

	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "good", 4);
	optmem_raise(_metadata);
	ret = mqtt_send(self->s.fd, &o, "x", 1, MSG_NOSIGNAL);
	optmem_restore();
	ASSERT_EQ(-EINVAL, ret) TH_LOG("send: %s", strerror(-ret));
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/* Unusual but valid topic names go out unchanged [MQTT-1.5.3-3]. */
TEST_F(session, unusual_valid_topics_sent_unchanged)
{
	static const char *const topics[] = {
		"/", "a//b", " ", "caf\xc3\xa9", "\xef\xbb\xbf" "bom",
		"\xf0\x9f\x98\x80", "$SYS/x", "\xf4\x8f\xbf\xbf",
	};
	struct pub o = PUB_DEFAULTS;
	struct publish p;
	unsigned int i;
	ssize_t ret;

	for (i = 0; i < ARRAY_SIZE(topics); i++) {
		o.topic = topics[i];
		o.topic_len = strlen(topics[i]);
		ret = mqtt_send(self->s.fd, &o, "v", 1, MSG_NOSIGNAL);
		ASSERT_EQ(1, ret) TH_LOG("topic %u refused: %s", i,
					 strerror(-ret));
		peer_next(_metadata, &self->s.p);
		ASSERT_TRUE(parse_publish(self->s.p.pkt, self->s.p.pkt_hdr,
				  self->s.p.pkt_len, &p));
		ASSERT_EQ(o.topic_len, p.topic_len);
		EXPECT_EQ(0, memcmp(p.topic, topics[i], p.topic_len));
	}
}

/* ---------------------------------------------------------------------- */
/* Invalid cmsgs on send                                                   */
/* ---------------------------------------------------------------------- */

FIXTURE(bad_cmsg) {
	struct sess s;
};

FIXTURE_VARIANT(bad_cmsg) {
	int type;
	int value;
	size_t len;		/* bytes of value passed */
};

FIXTURE_VARIANT_ADD(bad_cmsg, qos_3) {
	.type = MQTT_PUBLISH_QOS, .value = 3, .len = sizeof(int),
};
FIXTURE_VARIANT_ADD(bad_cmsg, qos_negative) {
	.type = MQTT_PUBLISH_QOS, .value = -1, .len = sizeof(int),
};
FIXTURE_VARIANT_ADD(bad_cmsg, qos_short) {
	.type = MQTT_PUBLISH_QOS, .value = 1, .len = 1,
};
FIXTURE_VARIANT_ADD(bad_cmsg, retain_2) {
	.type = MQTT_PUBLISH_RETAIN, .value = 2, .len = sizeof(int),
};
FIXTURE_VARIANT_ADD(bad_cmsg, retain_short) {
	.type = MQTT_PUBLISH_RETAIN, .value = 1, .len = 2,
};
/* DUP is receive-only: the kernel sets DUP itself. */
FIXTURE_VARIANT_ADD(bad_cmsg, dup_on_send) {
	.type = MQTT_PUBLISH_DUP, .value = 1, .len = sizeof(int),
};
FIXTURE_VARIANT_ADD(bad_cmsg, unknown_type) {
	.type = 99, .value = 0, .len = sizeof(int),
};
FIXTURE_VARIANT_ADD(bad_cmsg, connect_option_type) {
	.type = MQTT_KEEPALIVE, .value = 5, .len = sizeof(int),
};

FIXTURE_SETUP(bad_cmsg)
{
	sess_init(_metadata, &self->s, AF_INET);
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(bad_cmsg)
{
	sess_fini(&self->s);
}

TEST_F(bad_cmsg, send_einval_nothing_sent)
{
	char control[CMSG_SPACE(8) + CMSG_SPACE(sizeof(int))] = { };
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control,
	};
	struct cmsghdr *c = (struct cmsghdr *)control;

	c = add_cmsg(c, MQTT_PUBLISH_TOPIC, "t", 1);
	c = add_cmsg(c, variant->type, &variant->value, variant->len);
	msg.msg_controllen = (char *)c - control;
	ASSERT_EQ(-1, sendmsg(self->s.fd, &msg, MSG_NOSIGNAL));
	ASSERT_EQ(EINVAL, errno);
	peer_quiet(_metadata, &self->s.p, QUIET_MS);
}

/* ---------------------------------------------------------------------- */
/* Broker misbehaviour after CONNACK: EPROTO [MQTT-4.8.0-1]                */
/* ---------------------------------------------------------------------- */

FIXTURE(violation) {
	struct sess s;
	struct sub_buf b;
};

FIXTURE_VARIANT(violation) {
	int out_qos;		/* a client PUBLISH of this QoS in flight */
	bool pubrec_first;	/* ... already PUBRECed */
	bool in_qos2;		/* an incoming QoS 2 id 0x0101 awaits PUBREL */
	int request;		/* MQTT_SUBSCRIBE or _UNSUBSCRIBE pending */
	int recv_max;		/* MQTT_RECV_MAX, if set */
	uint8_t bytes[16];	/* what the broker sends */
	size_t len;
	int id_at;		/* > 0: bytes[id_at..] = pending id + */
	int id_delta;		/* ... id_delta */
};

#define VIOLATION(name, ...) \
	FIXTURE_VARIANT_ADD(violation, name) { __VA_ARGS__ }
#define BYTES(...) \
	.bytes = { __VA_ARGS__ }, \
	.len = sizeof((uint8_t[]){ __VA_ARGS__ })

/* Reserved flag bits [MQTT-2.2.2-1] [MQTT-2.2.2-2]. */
VIOLATION(puback_flags_0001, .out_qos = 1, BYTES(0x41, 0x02, 0, 0),
	  .id_at = 2);
VIOLATION(pubrec_flags_0010, .out_qos = 2, BYTES(0x52, 0x02, 0, 0),
	  .id_at = 2);
VIOLATION(pubrel_flags_0000, .in_qos2 = true,
	  BYTES(0x60, 0x02, 0x01, 0x01));
VIOLATION(pubrel_flags_0011, .in_qos2 = true,
	  BYTES(0x63, 0x02, 0x01, 0x01));
VIOLATION(pubcomp_flags_1000, .out_qos = 2, .pubrec_first = true,
	  BYTES(0x78, 0x02, 0, 0), .id_at = 2);
VIOLATION(suback_flags_0010, .request = MQTT_SUBSCRIBE,
	  BYTES(0x92, 0x03, 0, 0, 0x00), .id_at = 2);
VIOLATION(unsuback_flags_0001, .request = MQTT_UNSUBSCRIBE,
	  BYTES(0xb1, 0x02, 0, 0), .id_at = 2);
VIOLATION(pingresp_flags_0001, BYTES(0xd1, 0x00));
/* Remaining Length wrong for the packet type. */
VIOLATION(puback_length_3, .out_qos = 1, BYTES(0x40, 0x03, 0, 0, 0),
	  .id_at = 2);
VIOLATION(puback_length_1, .out_qos = 1, BYTES(0x40, 0x01, 0));
VIOLATION(pingresp_length_1, BYTES(0xd0, 0x01, 0x00));
VIOLATION(suback_without_code, .request = MQTT_SUBSCRIBE,
	  BYTES(0x90, 0x02, 0, 0), .id_at = 2);
/* SUBACK codes other than 0, 1, 2, 0x80 [MQTT-3.9.3-2]. */
VIOLATION(suback_code_3, .request = MQTT_SUBSCRIBE,
	  BYTES(0x90, 0x03, 0, 0, 0x03), .id_at = 2);
VIOLATION(suback_code_0x81, .request = MQTT_SUBSCRIBE,
	  BYTES(0x90, 0x03, 0, 0, 0x81), .id_at = 2);
/* Malformed PUBLISH. */
VIOLATION(publish_qos_3, BYTES(0x36, 0x06, 0x00, 0x01, 't', 0x00, 0x01,
			       'x'));
VIOLATION(publish_qos0_dup, BYTES(0x38, 0x04, 0x00, 0x01, 't', 'x'));
VIOLATION(publish_topic_plus, BYTES(0x30, 0x05, 0x00, 0x03, 'a', '/', '+'));
VIOLATION(publish_topic_hash, BYTES(0x32, 0x05, 0x00, 0x01, '#', 0x00,
				    0x01));
VIOLATION(publish_topic_bad_utf8, BYTES(0x30, 0x04, 0x00, 0x02, 0xc3,
					0x28));
VIOLATION(publish_topic_surrogate, BYTES(0x30, 0x05, 0x00, 0x03, 0xed,
					 0xa0, 0x80));
VIOLATION(publish_topic_nul, BYTES(0x30, 0x05, 0x00, 0x03, 'a', 0x00,
				   'b'));
VIOLATION(publish_topic_empty, BYTES(0x30, 0x03, 0x00, 0x00, 'x'));
VIOLATION(publish_topic_overruns_packet, BYTES(0x30, 0x05, 0x00, 0x0a,
					       'a', 'b', 'c'));
VIOLATION(publish_qos1_without_id, BYTES(0x32, 0x03, 0x00, 0x01, 't'));
/* Non-zero identifiers only [MQTT-2.3.1-1]. */
VIOLATION(publish_qos1_id_0, BYTES(0x32, 0x05, 0x00, 0x01, 't', 0x00,
				   0x00));
/* Packets only a client sends. */
VIOLATION(connect, BYTES(0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
			 0x02, 0x00, 0x3c, 0x00, 0x00));
VIOLATION(second_connack, BYTES(0x20, 0x02, 0x00, 0x00));
VIOLATION(subscribe, BYTES(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00));
VIOLATION(unsubscribe, BYTES(0xa2, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'));
VIOLATION(pingreq, BYTES(0xc0, 0x00));
VIOLATION(disconnect, BYTES(0xe0, 0x00));
VIOLATION(type_0, BYTES(0x00, 0x00));
VIOLATION(type_15, BYTES(0xf0, 0x00));
/* Acknowledgements for identifiers not in flight. */
VIOLATION(puback_nothing_in_flight, BYTES(0x40, 0x02, 0x00, 0x01));
VIOLATION(puback_unknown_id, .out_qos = 1, BYTES(0x40, 0x02, 0, 0),
	  .id_at = 2, .id_delta = 1);
VIOLATION(pubrec_unknown_id, .out_qos = 2, BYTES(0x50, 0x02, 0, 0),
	  .id_at = 2, .id_delta = 1);
VIOLATION(pubcomp_unknown_id, .out_qos = 2, .pubrec_first = true,
	  BYTES(0x70, 0x02, 0, 0), .id_at = 2, .id_delta = 1);
VIOLATION(suback_unknown_id, .request = MQTT_SUBSCRIBE,
	  BYTES(0x90, 0x03, 0, 0, 0x00), .id_at = 2, .id_delta = 1);
VIOLATION(unsuback_unknown_id, .request = MQTT_UNSUBSCRIBE,
	  BYTES(0xb0, 0x02, 0, 0), .id_at = 2, .id_delta = 1);
VIOLATION(puback_for_qos2, .out_qos = 2, BYTES(0x40, 0x02, 0, 0),
	  .id_at = 2);
VIOLATION(pubrec_for_qos1, .out_qos = 1, BYTES(0x50, 0x02, 0, 0),
	  .id_at = 2);
VIOLATION(pubcomp_before_pubrec, .out_qos = 2, BYTES(0x70, 0x02, 0, 0),
	  .id_at = 2);
VIOLATION(suback_for_unsubscribe, .request = MQTT_UNSUBSCRIBE,
	  BYTES(0x90, 0x03, 0, 0, 0x00), .id_at = 2);
VIOLATION(unsuback_for_subscribe, .request = MQTT_SUBSCRIBE,
	  BYTES(0xb0, 0x02, 0, 0), .id_at = 2);
VIOLATION(puback_for_subscribe, .request = MQTT_SUBSCRIBE,
	  BYTES(0x40, 0x02, 0, 0), .id_at = 2);
/* Remaining Length: above MQTT_RECV_MAX, huge, five bytes long. */
VIOLATION(remaining_length_above_recv_max, .recv_max = 1000,
	  BYTES(0x30, 0xe9, 0x07, 0x00, 0x01, 't'));
VIOLATION(remaining_length_max_announced, BYTES(0x30, 0xff, 0xff, 0xff,
						0x7f));
VIOLATION(remaining_length_5_bytes, BYTES(0x30, 0x80, 0x80, 0x80, 0x80,
					  0x01));

FIXTURE_SETUP(violation)
{
	sess_init(_metadata, &self->s, AF_INET);
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(violation)
{
	sess_fini(&self->s);
}

/*
 * The session ends with EPROTO: TCP closed without DISCONNECT, nothing
 * acknowledged, messages in flight reported lost with EPROTO and a
 * pending (UN)SUBSCRIBE failing EPROTO.
 */
TEST_F(violation, session_ends_eproto)
{
	uint8_t bytes[sizeof(variant->bytes)];
	struct async a = { };
	uint16_t id = 0;
	int outcome[1], err;

	memcpy(bytes, variant->bytes, sizeof(bytes));
	set_int(_metadata, self->s.fd, MQTT_DELIVERY_REPORTS, 1);
	if (variant->recv_max)
		set_int(_metadata, self->s.fd, MQTT_RECV_MAX,
			variant->recv_max);
	if (variant->out_qos) {
		publish(_metadata, self->s.fd, "v", variant->out_qos, "x", 1);
		id = peer_publish(_metadata, &self->s.p,
				  PUBLISH | PUB_QOS(variant->out_qos));
	}
	if (variant->pubrec_first) {
		PEER_SEND(&self->s.p, PUBREC, 0x02, ID_BYTES(id));
		PEER_EXPECT(&self->s.p, PUBREL, 0x02, ID_BYTES(id));
	}
	if (variant->in_qos2) {
		peer_publish_str(_metadata, &self->s.p, PUBLISH | PUB_QOS(2),
				 "v", 0x0101, "in");
		PEER_EXPECT(&self->s.p, PUBREC, 0x02, 0x01, 0x01);
	}
	if (variant->request == MQTT_SUBSCRIBE) {
		async_setsockopt(_metadata, &a, self->s.fd, MQTT_SUBSCRIBE,
				 &self->b, sub_fill(&self->b, 0, "v", 1));
		id = peer_subscribe(_metadata, &self->s.p, "v", 1, 0);
	} else if (variant->request == MQTT_UNSUBSCRIBE) {
		async_setsockopt(_metadata, &a, self->s.fd, MQTT_UNSUBSCRIBE,
				 "v", 1);
		id = peer_unsubscribe(_metadata, &self->s.p, "v", 1);
	}
	if (variant->id_at) {
		id += variant->id_delta;
		if (!id)
			id = 1;
		bytes[variant->id_at] = id >> 8;
		bytes[variant->id_at + 1] = id;
	}

	peer_send(_metadata, &self->s.p, bytes, variant->len);
	if (variant->request) {
		/* The call may take the error SO_ERROR would report. */
		async_join(_metadata, &a);
		ASSERT_EQ(-1, a.ret);
		ASSERT_EQ(EPROTO, a.err) TH_LOG("%s", strerror(a.err));
		err = so_error(_metadata, self->s.fd);
		ASSERT_TRUE(err == 0 || err == EPROTO)
			TH_LOG("SO_ERROR %s", strerror(err));
		ASSERT_EQ(POLLHUP, poll_fd(_metadata, self->s.fd, 0, 0) &
				   POLLHUP);
		peer_expect_silent_close(_metadata, &self->s.p);
	} else {
		expect_session_end(_metadata, &self->s, EPROTO);
	}
	if (variant->out_qos) {
		reports_init(outcome, 1);
		wait_reports(_metadata, self->s.fd, outcome, 1);
		EXPECT_EQ(EPROTO, outcome[0])
			TH_LOG("report: %s", strerror(outcome[0]));
	}
}

TEST_HARNESS_MAIN
