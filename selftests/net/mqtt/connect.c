// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT connect(): the CONNECT packet on the wire, CONNACK handling,
 * failures, blocking and non-blocking behaviour, close(), and the SOL_MQTT
 * socket options that shape the CONNECT.
 *
 * Most tests talk to a scripted peer (struct script): peer.h's listener on
 * 127.0.0.1 in this process, whose thread accepts one connection, reads the
 * first packet, sends the bytes the test chose and records what else
 * arrives until the client ends the connection.  Every wait of the peer is bounded (PEER_TIMEOUT_MS)
 * and every socket under test gets a MQTT_CONNECT_TIMEOUT below the harness
 * timeout, so a broken module fails tests instead of hanging the suite.
 *
 * The "broker" fixture talks to the mosquitto the VM runner started; the
 * MQTT_BROKER_* environment variables say where.  Without one its tests
 * skip when run by hand and fail under the runner (require_broker()).
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
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/mqtt.h>

#include "peer.h"

/* Variable headers of CONNECT, written out from MQTT 3.1.1 section 3.1.2. */
#define V311_NAME_LEVEL		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04
#define V31_NAME_LEVEL		0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03
#define KEEPALIVE_60		0x00, 0x3c
#define ID_C1			0x00, 0x02, 'c', '1'

/* ---------------------------------------------------------------------- */
/* Address family, sockets, options                                        */
/* ---------------------------------------------------------------------- */

/* One SOL_MQTT option value, as a test table entry. */
struct sopt {
	int name;		/* MQTT_*; 0 ends a list */
	bool is_int;
	int ival;		/* int options */
	const char *sval;	/* string options; NULL: len pattern bytes */
	int len;		/* optlen passed to setsockopt() */
};

#define OPT_INT(n, v)		{ .name = (n), .is_int = true, .ival = (v), \
				  .len = sizeof(int) }
#define OPT_INT_LEN(n, v, l)	{ .name = (n), .is_int = true, .ival = (v), \
				  .len = (l) }
/* sizeof, not strlen: embedded NUL bytes are part of the value. */
#define OPT_STR(n, s)		{ .name = (n), .sval = (s), \
				  .len = sizeof(s) - 1 }
#define OPT_PATTERN(n, l)	{ .name = (n), .len = (l) }

static uint8_t *sopt_bytes(const struct sopt *o)
{
	uint8_t *buf = malloc(o->len ? o->len : 1);

	if (!buf)
		return NULL;
	if (o->sval)
		memcpy(buf, o->sval, o->len);
	else
		fill_pattern(buf, o->len);
	return buf;
}

/* setsockopt() of one table entry: 0 or the errno. */
static int sopt_set(int fd, const struct sopt *o)
{
	int ival[2] = { o->ival, 0 };
	uint8_t *buf = NULL;
	const void *val;
	int ret;

	if (o->is_int) {
		val = ival;
	} else {
		buf = sopt_bytes(o);
		val = buf;
	}
	ret = setsockopt(fd, SOL_MQTT, o->name, val, o->len) ? errno : 0;
	free(buf);
	return ret;
}

/* The option reads back as o (a password is never readable). */
static void sopt_expect_value(struct __test_metadata *_metadata, int fd,
			      const struct sopt *o)
{
	socklen_t len = MQTT_MAX_FIELD_LEN + 1;
	uint8_t *buf, *want;

	if (o->name == MQTT_PASSWORD) {
		uint8_t dummy[8];

		len = sizeof(dummy);
		ASSERT_EQ(EOPNOTSUPP, get_opt(fd, o->name, dummy, &len));
		return;
	}
	if (o->is_int) {
		ASSERT_EQ(o->ival, get_int(_metadata, fd, o->name));
		return;
	}
	buf = malloc(len);
	want = sopt_bytes(o);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, get_opt(fd, o->name, buf, &len));
	ASSERT_EQ(o->len, (int)len);
	ASSERT_EQ(0, memcmp(want, buf, len));
	free(buf);
	free(want);
}

/* The errno connect() reports for a CONNACK return code. */
static int errno_for_code(unsigned int code)
{
	switch (code) {
	case MQTT_CONNACK_ACCEPTED:
		return 0;
	case MQTT_CONNACK_UNACCEPTABLE_PROTOCOL:
		return EPROTONOSUPPORT;
	case MQTT_CONNACK_IDENTIFIER_REJECTED:
		return EINVAL;
	case MQTT_CONNACK_SERVER_UNAVAILABLE:
		return ECONNREFUSED;
	case MQTT_CONNACK_BAD_USERNAME_OR_PASSWORD:
		return EKEYREJECTED;
	case MQTT_CONNACK_NOT_AUTHORIZED:
		return EACCES;
	default:
		return ECONNREFUSED;
	}
}

/* ---------------------------------------------------------------------- */
/* The scripted peer, in a thread                                          */
/* ---------------------------------------------------------------------- */

enum peer_end {
	PEER_HOLD,	/* keep the connection until the client ends it */
	PEER_FIN,	/* shutdown(SHUT_WR) after the reply, then as HOLD */
	PEER_RST,	/* abortive close (SO_LINGER {1, 0}) after the reply */
};

/* A peer.h peer whose thread answers connect() as the test scripted. */
struct script {
	struct peer p;			/* listener; p.pkt: the first packet */

	/* The script, set before script_start(). */
	const uint8_t *reply;		/* sent after the first packet */
	size_t reply_len;		/* 0: say nothing */
	bool wait_go;			/* reply only after script_go() */
	unsigned int split_ms;		/* reply[0] alone, pause, the rest */
	enum peer_end end;
	int hold_ms;			/* how long to wait for the client */

	int received[2];		/* pipe: peer -> test, "packet read" */
	int go[2];			/* pipe: test -> peer, "reply now" */
	pthread_t thread;
	bool started;

	/* Results, valid after script_join(). */
	uint8_t after[256];		/* what came after the first packet */
	size_t after_len;
	enum peer_closed closed;	/* how the client ended */
	const char *error;		/* the step that failed, or NULL */
	int error_errno;
};

static void *script_failed(struct script *s, const char *step, int err)
{
	s->error = step;
	s->error_errno = err;
	return NULL;
}

static int script_send_reply(struct script *s)
{
	size_t off = 0;
	int err;

	if (s->split_ms) {
		err = peer_write(&s->p, s->reply, 1);
		if (err) {
			script_failed(s, "send of the reply failed", err);
			return -1;
		}
		usleep(s->split_ms * 1000);
		off = 1;
	}
	err = peer_write(&s->p, s->reply + off, s->reply_len - off);
	if (err) {
		script_failed(s, "send of the reply failed", err);
		return -1;
	}
	return 0;
}

static void *script_main(void *arg)
{
	struct script *s = arg;
	char token;
	ssize_t n;
	int err;

	err = peer_accept(&s->p);
	if (err)
		return script_failed(s, "no connection accepted", err);
	n = peer_pkt(&s->p, PEER_TIMEOUT_MS);
	if (n < 0) {
		script_failed(s, "reading the first packet failed", -n);
		goto out;
	}
	if (write(s->received[1], "r", 1) != 1) {
		script_failed(s, "write to the test failed", errno);
		goto out;
	}
	if (s->wait_go) {
		if (!wait_readable(s->go[0], PEER_TIMEOUT_MS)) {
			script_failed(s, "the test never said go", 0);
			goto out;
		}
		if (read(s->go[0], &token, 1) != 1) {
			script_failed(s, "read of go failed", errno);
			goto out;
		}
	}
	if (s->reply_len && script_send_reply(s))
		goto out;

	switch (s->end) {
	case PEER_RST:
		peer_reset(&s->p);
		break;
	case PEER_FIN:
		shutdown(s->p.pfd, SHUT_WR);
		/* fall through */
	case PEER_HOLD:
		s->closed = peer_until_closed(&s->p, s->hold_ms, s->after,
					      sizeof(s->after), &s->after_len);
		break;
	}
out:
	if (s->p.pfd >= 0)
		close(s->p.pfd);
	s->p.pfd = -1;
	return NULL;
}

static void script_setup(struct __test_metadata *_metadata, struct script *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->hold_ms = PEER_TIMEOUT_MS;
	err = peer_listen(&s->p, AF_INET);
	ASSERT_EQ(0, err) TH_LOG("peer: listen: %s", strerror(err));
	ASSERT_EQ(0, pipe(s->received));
	ASSERT_EQ(0, pipe(s->go));
}

/* Start the script.  The thread blocks every signal: they are the test's. */
static void script_start(struct __test_metadata *_metadata, struct script *s)
{
	ASSERT_EQ(0, start_thread(&s->thread, script_main, s));
	s->started = true;
}

/* Wait until the peer has read the client's first packet. */
static void script_wait_received(struct __test_metadata *_metadata,
				 struct script *s)
{
	char token;

	ASSERT_TRUE(wait_readable(s->received[0], PEER_TIMEOUT_MS))
		TH_LOG("the peer never received a packet");
	ASSERT_EQ(1, read(s->received[0], &token, 1));
}

static void script_go(struct __test_metadata *_metadata, struct script *s)
{
	ASSERT_EQ(1, write(s->go[1], "g", 1));
}

static void script_join(struct __test_metadata *_metadata, struct script *s)
{
	ASSERT_TRUE(s->started);
	ASSERT_EQ(0, pthread_join(s->thread, NULL));
	s->started = false;
	ASSERT_EQ(NULL, s->error) TH_LOG("peer: %s (%s)", s->error,
					 strerror(s->error_errno));
}

/* Nobody connected to the listener: no TCP traffic at all. */
static void script_expect_no_connection(struct __test_metadata *_metadata,
					struct script *s)
{
	ASSERT_FALSE(wait_readable(s->p.lfd, QUIET_MS))
		TH_LOG("the client opened a TCP connection");
}

/* After the first packet the client sent nothing and closed TCP. */
static void script_expect_silent_end(struct __test_metadata *_metadata,
				     struct script *s)
{
	EXPECT_EQ(0, (int)s->after_len)
		log_hex(_metadata, "after", s->after, s->after_len, 0);
	EXPECT_NE(CLOSED_NOT, (int)s->closed);
}

static void script_teardown(struct script *s)
{
	/* A thread still running belongs to a failed test: let it be. */
	if (s->started)
		return;
	peer_close(&s->p);
	close(s->received[0]);
	close(s->received[1]);
	close(s->go[0]);
	close(s->go[1]);
}

/* An address where nobody listens: bound once, then released. */
static void closed_port(struct __test_metadata *_metadata,
			struct sockaddr_in *addr)
{
	union peer_addr a;
	socklen_t len;
	int fd = loopback_listen(AF_INET, 0, 0, &a, &len);

	ASSERT_LE(0, fd) TH_LOG("bind: %s", strerror(-fd));
	*addr = a.in;
	close(fd);
}

static const uint8_t connack_accepted[] = { CONNACK_HDR, 0x00, 0x00 };

/* ---------------------------------------------------------------------- */
/* socket()                                                                */
/* ---------------------------------------------------------------------- */

FIXTURE(create) {
	int fd;
};

FIXTURE_SETUP(create)
{
	self->fd = -1;
}

FIXTURE_TEARDOWN(create)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(create, seqpacket_created)
{
	self->fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
	ASSERT_LE(0, self->fd) TH_LOG("socket: %s", strerror(errno));
}

TEST_F(create, nonblock_cloexec_flags_honoured)
{
	self->fd = socket(mqtt_family(),
			  SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, self->fd) TH_LOG("socket: %s", strerror(errno));
	EXPECT_TRUE(fcntl(self->fd, F_GETFL) & O_NONBLOCK);
	EXPECT_TRUE(fcntl(self->fd, F_GETFD) & FD_CLOEXEC);
}

TEST_F(create, stream_not_supported)
{
	self->fd = socket(mqtt_family(), SOCK_STREAM, 0);
	ASSERT_EQ(-1, self->fd);
	ASSERT_EQ(ESOCKTNOSUPPORT, errno);
}

TEST_F(create, dgram_not_supported)
{
	self->fd = socket(mqtt_family(), SOCK_DGRAM, 0);
	ASSERT_EQ(-1, self->fd);
	ASSERT_EQ(ESOCKTNOSUPPORT, errno);
}

TEST_F(create, nonzero_protocol_not_supported)
{
	static const int protocols[] = { 1, IPPROTO_TCP, IPPROTO_UDP, 255 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(protocols); i++) {
		self->fd = socket(mqtt_family(), SOCK_SEQPACKET, protocols[i]);
		ASSERT_EQ(-1, self->fd) TH_LOG("protocol %d accepted",
					       protocols[i]);
		ASSERT_EQ(EPROTONOSUPPORT, errno)
			TH_LOG("protocol %d", protocols[i]);
	}
}

/* ---------------------------------------------------------------------- */
/* Socket options on an unconnected socket                                 */
/* ---------------------------------------------------------------------- */

FIXTURE(sockopt) {
	int fd;
};

FIXTURE_SETUP(sockopt)
{
	/* A plain socket: the defaults test must see untouched values. */
	self->fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
	ASSERT_LE(0, self->fd) TH_LOG("socket: %s", strerror(errno));
}

FIXTURE_TEARDOWN(sockopt)
{
	close(self->fd);
}

TEST_F(sockopt, defaults)
{
	char id[16];
	socklen_t len = sizeof(id);

	EXPECT_EQ(60, get_int(_metadata, self->fd, MQTT_KEEPALIVE));
	EXPECT_EQ(1, get_int(_metadata, self->fd, MQTT_CLEAN_SESSION));
	EXPECT_EQ(MQTT_PROTOCOL_V311,
		  get_int(_metadata, self->fd, MQTT_PROTOCOL_LEVEL));
	EXPECT_EQ(30000, get_int(_metadata, self->fd, MQTT_CONNECT_TIMEOUT));
	EXPECT_EQ(0, get_int(_metadata, self->fd, MQTT_WILL_QOS));
	EXPECT_EQ(0, get_int(_metadata, self->fd, MQTT_WILL_RETAIN));
	ASSERT_EQ(0, get_opt(self->fd, MQTT_CLIENT_ID, id, &len));
	EXPECT_EQ(0, (int)len);
}

TEST_F(sockopt, string_read_with_larger_buffer_sets_optlen)
{
	char buf[64];
	socklen_t len = sizeof(buf);

	set_str(_metadata, self->fd, MQTT_CLIENT_ID, "abcdef", 6);
	memset(buf, 'X', sizeof(buf));
	ASSERT_EQ(0, get_opt(self->fd, MQTT_CLIENT_ID, buf, &len));
	ASSERT_EQ(6, (int)len);
	ASSERT_EQ(0, memcmp(buf, "abcdef", 6));
	/* No NUL terminator is part of the value. */
	EXPECT_EQ('X', buf[6]);
}

TEST_F(sockopt, string_read_with_exact_buffer)
{
	char buf[6];
	socklen_t len = sizeof(buf);

	set_str(_metadata, self->fd, MQTT_USERNAME, "abcdef", 6);
	ASSERT_EQ(0, get_opt(self->fd, MQTT_USERNAME, buf, &len));
	ASSERT_EQ(6, (int)len);
	ASSERT_EQ(0, memcmp(buf, "abcdef", 6));
}

TEST_F(sockopt, string_read_with_small_buffer_erange)
{
	char buf[8];
	socklen_t len = 5;

	set_str(_metadata, self->fd, MQTT_WILL_TOPIC, "abcdef", 6);
	ASSERT_EQ(ERANGE, get_opt(self->fd, MQTT_WILL_TOPIC, buf, &len));
	/* optlen says how much is needed. */
	ASSERT_EQ(6, (int)len);
}

TEST_F(sockopt, string_read_with_zero_buffer_erange)
{
	char buf[8];
	socklen_t len = 0;

	set_str(_metadata, self->fd, MQTT_WILL_MESSAGE, "\0\1\2", 3);
	ASSERT_EQ(ERANGE, get_opt(self->fd, MQTT_WILL_MESSAGE, buf, &len));
	ASSERT_EQ(3, (int)len);
}

struct str_opt {
	int name;
	const char *val;
};

/* Setting one string option leaves every other one as it was. */
TEST_F(sockopt, string_options_kept_when_another_changes)
{
	static const struct str_opt set[] = {
		{ MQTT_CLIENT_ID, "gateway-7" },
		{ MQTT_USERNAME, "" },
		{ MQTT_PASSWORD, "secret" },
		{ MQTT_WILL_TOPIC, "gw/7/state" },
		{ MQTT_WILL_MESSAGE, "offline" },
		{ MQTT_PUBLISH_TOPIC, "gw/7/data" },
		{ MQTT_CLIENT_ID, "gw-7" },
		{ MQTT_WILL_MESSAGE, "" },
		{ MQTT_USERNAME, "user" },
	};
	static const struct str_opt want[] = {
		{ MQTT_CLIENT_ID, "gw-7" },
		{ MQTT_USERNAME, "user" },
		{ MQTT_WILL_TOPIC, "gw/7/state" },
		{ MQTT_WILL_MESSAGE, "" },
		{ MQTT_PUBLISH_TOPIC, "gw/7/data" },
	};
	char buf[32];
	socklen_t len;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(set); i++)
		set_str(_metadata, self->fd, set[i].name, set[i].val,
			strlen(set[i].val));
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		len = sizeof(buf);
		ASSERT_EQ(0, get_opt(self->fd, want[i].name, buf, &len))
			TH_LOG("option %d", want[i].name);
		ASSERT_EQ(strlen(want[i].val), len)
			TH_LOG("option %d", want[i].name);
		EXPECT_EQ(0, memcmp(buf, want[i].val, len))
			TH_LOG("option %d", want[i].name);
	}
	len = sizeof(buf);
	EXPECT_EQ(EOPNOTSUPP, get_opt(self->fd, MQTT_PASSWORD, buf, &len));
}

/* optlen 0 sets a present, empty user name; it reads back empty. */
TEST_F(sockopt, empty_username_reads_back_empty)
{
	char buf[8];
	socklen_t len = sizeof(buf);

	set_str(_metadata, self->fd, MQTT_USERNAME, "", 0);
	ASSERT_EQ(0, get_opt(self->fd, MQTT_USERNAME, buf, &len));
	ASSERT_EQ(0, (int)len);
}

TEST_F(sockopt, int_read_writes_sizeof_int)
{
	uint8_t buf[8];
	socklen_t len = sizeof(buf);
	int val;

	set_int(_metadata, self->fd, MQTT_KEEPALIVE, 300);
	memset(buf, 0xa5, sizeof(buf));
	ASSERT_EQ(0, get_opt(self->fd, MQTT_KEEPALIVE, buf, &len));
	ASSERT_EQ(sizeof(int), (size_t)len);
	memcpy(&val, buf, sizeof(val));
	EXPECT_EQ(300, val);
	EXPECT_EQ(0xa5, buf[sizeof(int)]);
}

TEST_F(sockopt, int_read_with_short_buffer_einval)
{
	uint8_t buf[8];
	socklen_t len = sizeof(int) - 1;

	ASSERT_EQ(EINVAL, get_opt(self->fd, MQTT_KEEPALIVE, buf, &len));
}

TEST_F(sockopt, password_not_readable)
{
	char buf[64];
	socklen_t len = sizeof(buf);

	ASSERT_EQ(EOPNOTSUPP, get_opt(self->fd, MQTT_PASSWORD, buf, &len));
	set_str(_metadata, self->fd, MQTT_PASSWORD, "secret", 6);
	len = sizeof(buf);
	ASSERT_EQ(EOPNOTSUPP, get_opt(self->fd, MQTT_PASSWORD, buf, &len));
}

TEST_F(sockopt, unknown_option_enoprotoopt)
{
	static const int names[] = { 0, MQTT_TLS_ALERT + 1, 99, -1, INT_MAX };
	char buf[64];
	socklen_t len;
	unsigned int i;
	int val = 1;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		ASSERT_EQ(-1, setsockopt(self->fd, SOL_MQTT, names[i], &val,
					 sizeof(val)))
			TH_LOG("setsockopt(%d) accepted", names[i]);
		ASSERT_EQ(ENOPROTOOPT, errno) TH_LOG("set %d", names[i]);
		len = sizeof(buf);
		ASSERT_EQ(ENOPROTOOPT, get_opt(self->fd, names[i], buf, &len))
			TH_LOG("get %d", names[i]);
	}
}

TEST_F(sockopt, connack_before_connect_enotconn)
{
	struct mqtt_connack ca;

	ASSERT_EQ(ENOTCONN, read_connack(_metadata, self->fd, &ca));
}

TEST_F(sockopt, getpeername_unconnected_enotconn)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	ASSERT_EQ(-1, getpeername(self->fd, (struct sockaddr *)&ss, &len));
	ASSERT_EQ(ENOTCONN, errno);
}

TEST_F(sockopt, connect_unix_address_eafnosupport)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX,
				   .sun_path = "/tmp/mqtt-ksft" };

	ASSERT_EQ(EAFNOSUPPORT, connect_errno(self->fd, &sun, sizeof(sun)));
}

TEST_F(sockopt, connect_garbage_family_eafnosupport)
{
	struct sockaddr_in6 sa = { .sin6_family = 0x7a7a };

	ASSERT_EQ(EAFNOSUPPORT, connect_errno(self->fd, &sa, sizeof(sa)));
}

TEST_F(sockopt, connect_short_ipv4_address_einval)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(1883),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	ASSERT_EQ(EINVAL, connect_errno(self->fd, &sin, sizeof(sin) - 1));
}

TEST_F(sockopt, connect_short_ipv6_address_einval)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(1883),
				     .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	ASSERT_EQ(EINVAL, connect_errno(self->fd, &sin6,
					sizeof(struct sockaddr_in)));
}

/* ---------------------------------------------------------------------- */
/* Option values accepted: each one set, then read back unchanged          */
/* ---------------------------------------------------------------------- */

FIXTURE(good_opt) {
	int fd;
};

FIXTURE_VARIANT(good_opt) {
	struct sopt opt;
};

FIXTURE_SETUP(good_opt)
{
	self->fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
	ASSERT_LE(0, self->fd) TH_LOG("socket: %s", strerror(errno));
}

FIXTURE_TEARDOWN(good_opt)
{
	close(self->fd);
}

#define GOOD(vname, o) \
	FIXTURE_VARIANT_ADD(good_opt, vname) { .opt = o };
/* UTF-8 string options: client id, user name, will topic. */
#define GOOD_UTF8(vname, s) \
	GOOD(client_id_##vname, OPT_STR(MQTT_CLIENT_ID, s)) \
	GOOD(username_##vname, OPT_STR(MQTT_USERNAME, s)) \
	GOOD(will_topic_##vname, OPT_STR(MQTT_WILL_TOPIC, s))

GOOD_UTF8(ascii, "sensor-17")
GOOD_UTF8(utf8_2byte, "\xc3\xa9")			/* U+00E9 */
GOOD_UTF8(utf8_3byte, "\xe2\x82\xac")			/* U+20AC */
GOOD_UTF8(utf8_4byte, "\xf0\x9f\x98\x80")		/* U+1F600 */
GOOD_UTF8(last_before_surrogates, "\xed\x9f\xbf")	/* U+D7FF */
GOOD_UTF8(first_after_surrogates, "\xee\x80\x80")	/* U+E000 */
GOOD_UTF8(largest_code_point, "\xf4\x8f\xbf\xbf")	/* U+10FFFF */
GOOD_UTF8(bom, "\xef\xbb\xbf")	/* kept, never stripped [MQTT-1.5.3-3] */
/* MQTT says SHOULD NOT for controls and noncharacters; they are valid. */
GOOD_UTF8(control_char, "a\x01z")
GOOD_UTF8(noncharacter, "\xef\xbf\xbf")			/* U+FFFF */
GOOD(client_id_empty, OPT_STR(MQTT_CLIENT_ID, ""))
GOOD(username_empty, OPT_STR(MQTT_USERNAME, ""))
GOOD(client_id_65535, OPT_PATTERN(MQTT_CLIENT_ID, 65535))
GOOD(username_65535, OPT_PATTERN(MQTT_USERNAME, 65535))
GOOD(will_topic_65535, OPT_PATTERN(MQTT_WILL_TOPIC, 65535))
GOOD(will_topic_levels, OPT_STR(MQTT_WILL_TOPIC, "a/b/c"))
GOOD(will_topic_slash, OPT_STR(MQTT_WILL_TOPIC, "/"))
GOOD(will_topic_space, OPT_STR(MQTT_WILL_TOPIC, " "))
GOOD(will_message_binary, OPT_STR(MQTT_WILL_MESSAGE, "\0\xff\xc0\x80\0"))
GOOD(will_message_empty, OPT_STR(MQTT_WILL_MESSAGE, ""))
GOOD(will_message_65535, OPT_PATTERN(MQTT_WILL_MESSAGE, 65535))
GOOD(password_binary, OPT_STR(MQTT_PASSWORD, "\0\xff\xed\xa0\x80"))
GOOD(password_empty, OPT_STR(MQTT_PASSWORD, ""))
GOOD(password_65535, OPT_PATTERN(MQTT_PASSWORD, 65535))
GOOD(keepalive_0, OPT_INT(MQTT_KEEPALIVE, 0))
GOOD(keepalive_65535, OPT_INT(MQTT_KEEPALIVE, 65535))
GOOD(keepalive_long_optlen, OPT_INT_LEN(MQTT_KEEPALIVE, 90, 8))
GOOD(clean_session_0, OPT_INT(MQTT_CLEAN_SESSION, 0))
GOOD(clean_session_1, OPT_INT(MQTT_CLEAN_SESSION, 1))
GOOD(will_qos_1, OPT_INT(MQTT_WILL_QOS, 1))
GOOD(will_qos_2, OPT_INT(MQTT_WILL_QOS, 2))
GOOD(will_retain_1, OPT_INT(MQTT_WILL_RETAIN, 1))
GOOD(level_3, OPT_INT(MQTT_PROTOCOL_LEVEL, MQTT_PROTOCOL_V31))
GOOD(level_4, OPT_INT(MQTT_PROTOCOL_LEVEL, MQTT_PROTOCOL_V311))
GOOD(connect_timeout_1, OPT_INT(MQTT_CONNECT_TIMEOUT, 1))
GOOD(connect_timeout_int_max, OPT_INT(MQTT_CONNECT_TIMEOUT, INT_MAX))

TEST_F(good_opt, accepted_and_read_back)
{
	ASSERT_EQ(0, sopt_set(self->fd, &variant->opt))
		TH_LOG("setsockopt: %s", strerror(sopt_set(self->fd,
							   &variant->opt)));
	sopt_expect_value(_metadata, self->fd, &variant->opt);
}

/* ---------------------------------------------------------------------- */
/* Option values rejected: EINVAL, and the previous value stays            */
/* ---------------------------------------------------------------------- */

FIXTURE(bad_opt) {
	int fd;
};

FIXTURE_VARIANT(bad_opt) {
	struct sopt old;	/* a valid value, set first */
	struct sopt bad;	/* must fail with EINVAL */
};

FIXTURE_SETUP(bad_opt)
{
	self->fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
	ASSERT_LE(0, self->fd) TH_LOG("socket: %s", strerror(errno));
}

FIXTURE_TEARDOWN(bad_opt)
{
	close(self->fd);
}

/* Variadic: the expanded value's braces hold commas. */
#define BAD(vname, o, ...) \
	FIXTURE_VARIANT_ADD(bad_opt, vname) { .old = o, .bad = __VA_ARGS__ };
#define BAD_STR(vname, name, ...) \
	BAD(vname, OPT_STR(name, "old"), __VA_ARGS__)
#define BAD_UTF8(vname, s) \
	BAD_STR(client_id_##vname, MQTT_CLIENT_ID, OPT_STR(MQTT_CLIENT_ID, s)) \
	BAD_STR(username_##vname, MQTT_USERNAME, OPT_STR(MQTT_USERNAME, s)) \
	BAD_STR(will_topic_##vname, MQTT_WILL_TOPIC, \
		OPT_STR(MQTT_WILL_TOPIC, s))

/* Ill-formed UTF-8 [MQTT-1.5.3-1] and U+0000 [MQTT-1.5.3-2]. */
BAD_UTF8(nul, "a\0b")
BAD_UTF8(overlong_nul, "a\xc0\x80")
BAD_UTF8(overlong_2byte, "\xc1\xbf")
BAD_UTF8(overlong_3byte, "\xe0\x9f\xbf")
BAD_UTF8(overlong_4byte, "\xf0\x8f\xbf\xbf")
BAD_UTF8(high_surrogate, "\xed\xa0\x80")		/* U+D800 */
BAD_UTF8(low_surrogate, "\xed\xbf\xbf")			/* U+DFFF */
BAD_UTF8(above_max_code_point, "\xf4\x90\x80\x80")	/* U+110000 */
BAD_UTF8(lead_byte_f5, "\xf5\x80\x80\x80")
BAD_UTF8(truncated_2byte, "\xc3")
BAD_UTF8(truncated_3byte, "a\xe2\x82")
BAD_UTF8(truncated_4byte, "\xf0\x9f\x98")
BAD_UTF8(truncated_before_ascii, "\xe2\x82z")
BAD_UTF8(stray_continuation, "a\x80")
BAD_UTF8(byte_fe, "\xfe")
BAD_UTF8(byte_ff, "\xff")
BAD_STR(client_id_65536, MQTT_CLIENT_ID, OPT_PATTERN(MQTT_CLIENT_ID, 65536))
BAD_STR(username_65536, MQTT_USERNAME, OPT_PATTERN(MQTT_USERNAME, 65536))
BAD_STR(will_topic_65536, MQTT_WILL_TOPIC,
	OPT_PATTERN(MQTT_WILL_TOPIC, 65536))
BAD_STR(will_message_65536, MQTT_WILL_MESSAGE,
	OPT_PATTERN(MQTT_WILL_MESSAGE, 65536))
/* The password is write-only: only the errno is checked here. */
BAD_STR(password_65536, MQTT_PASSWORD, OPT_PATTERN(MQTT_PASSWORD, 65536))
/* A will topic is a topic name: non-empty, no wildcards. */
BAD_STR(will_topic_empty, MQTT_WILL_TOPIC, OPT_STR(MQTT_WILL_TOPIC, ""))
BAD_STR(will_topic_plus, MQTT_WILL_TOPIC, OPT_STR(MQTT_WILL_TOPIC, "+"))
BAD_STR(will_topic_hash, MQTT_WILL_TOPIC, OPT_STR(MQTT_WILL_TOPIC, "#"))
BAD_STR(will_topic_inner_plus, MQTT_WILL_TOPIC,
	OPT_STR(MQTT_WILL_TOPIC, "a/+/b"))
BAD_STR(will_topic_trailing_hash, MQTT_WILL_TOPIC,
	OPT_STR(MQTT_WILL_TOPIC, "a/#"))
BAD_STR(will_topic_plus_in_level, MQTT_WILL_TOPIC,
	OPT_STR(MQTT_WILL_TOPIC, "a+b"))

#define BAD_INT(vname, name, oldv, badv) \
	BAD(vname, OPT_INT(name, oldv), OPT_INT(name, badv))
BAD_INT(keepalive_negative, MQTT_KEEPALIVE, 17, -1)
BAD_INT(keepalive_65536, MQTT_KEEPALIVE, 17, 65536)
BAD_INT(keepalive_int_max, MQTT_KEEPALIVE, 17, INT_MAX)
BAD_INT(keepalive_int_min, MQTT_KEEPALIVE, 17, INT_MIN)
BAD_INT(clean_session_2, MQTT_CLEAN_SESSION, 0, 2)
BAD_INT(clean_session_negative, MQTT_CLEAN_SESSION, 0, -1)
BAD_INT(will_retain_2, MQTT_WILL_RETAIN, 1, 2)
BAD_INT(will_retain_negative, MQTT_WILL_RETAIN, 1, -1)
BAD_INT(will_qos_3, MQTT_WILL_QOS, 1, 3)	/* [MQTT-3.1.2-14] */
BAD_INT(will_qos_negative, MQTT_WILL_QOS, 1, -1)
BAD_INT(level_0, MQTT_PROTOCOL_LEVEL, 3, 0)
BAD_INT(level_2, MQTT_PROTOCOL_LEVEL, 3, 2)
BAD_INT(level_5, MQTT_PROTOCOL_LEVEL, 3, 5)
BAD_INT(level_negative, MQTT_PROTOCOL_LEVEL, 3, -1)
BAD_INT(connect_timeout_0, MQTT_CONNECT_TIMEOUT, 1234, 0)
BAD_INT(connect_timeout_negative, MQTT_CONNECT_TIMEOUT, 1234, -1)
BAD_INT(connect_timeout_int_min, MQTT_CONNECT_TIMEOUT, 1234, INT_MIN)

/* Int options need optlen >= sizeof(int); the value itself is valid. */
#define BAD_INT_LEN(vname, name, oldv, v, l) \
	BAD(vname, OPT_INT(name, oldv), OPT_INT_LEN(name, v, l))
BAD_INT_LEN(keepalive_optlen_0, MQTT_KEEPALIVE, 17, 30, 0)
BAD_INT_LEN(keepalive_optlen_2, MQTT_KEEPALIVE, 17, 30, 2)
BAD_INT_LEN(clean_session_optlen_3, MQTT_CLEAN_SESSION, 0, 1, 3)
BAD_INT_LEN(will_qos_optlen_1, MQTT_WILL_QOS, 1, 2, 1)
BAD_INT_LEN(will_retain_optlen_3, MQTT_WILL_RETAIN, 1, 0, 3)
BAD_INT_LEN(level_optlen_1, MQTT_PROTOCOL_LEVEL, 3, 4, 1)
BAD_INT_LEN(connect_timeout_optlen_2, MQTT_CONNECT_TIMEOUT, 1234, 500, 2)

TEST_F(bad_opt, rejected_einval_old_value_kept)
{
	ASSERT_EQ(0, sopt_set(self->fd, &variant->old));
	ASSERT_EQ(EINVAL, sopt_set(self->fd, &variant->bad));
	sopt_expect_value(_metadata, self->fd, &variant->old);
}

/* ---------------------------------------------------------------------- */
/* The CONNECT packet, byte for byte (MQTT 3.1.1 section 3.1)              */
/* ---------------------------------------------------------------------- */

/* CONNECT, 3.1.1, clean session, keepalive 60, the given client id. */
static size_t build_connect_with_id(uint8_t *buf, const uint8_t *id,
				    size_t id_len)
{
	static const uint8_t var_hdr[] = { V311_NAME_LEVEL, 0x02,
					   KEEPALIVE_60 };
	size_t n = 0;

	buf[n++] = CONNECT;
	n += put_varint(buf + n, sizeof(var_hdr) + 2 + id_len);
	memcpy(buf + n, var_hdr, sizeof(var_hdr));
	n += sizeof(var_hdr);
	buf[n++] = id_len >> 8;
	buf[n++] = id_len & 0xff;
	memcpy(buf + n, id, id_len);
	return n + id_len;
}

FIXTURE(connect_bytes) {
	int fd;
	struct script peer;
};

FIXTURE_VARIANT(connect_bytes) {
	struct sopt opts[8];		/* set in order; name 0 ends: 7 at most */
	const uint8_t *expect;		/* the packet written out by hand */
	size_t expect_len;
	size_t id_len;			/* or: a pattern client id this long */
	size_t varint_len;		/* ...whose remaining length takes this */
};

#define PKT(...) \
	.expect = (const uint8_t []){ __VA_ARGS__ }, \
	.expect_len = sizeof((const uint8_t []){ __VA_ARGS__ })

FIXTURE_VARIANT_ADD(connect_bytes, minimal) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1") },
	PKT(CONNECT, 14, V311_NAME_LEVEL, 0x02, KEEPALIVE_60, ID_C1),
};

/* The last value set is the one sent. */
FIXTURE_VARIANT_ADD(connect_bytes, client_id_replaced) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "first"),
		  OPT_STR(MQTT_CLIENT_ID, "c1") },
	PKT(CONNECT, 14, V311_NAME_LEVEL, 0x02, KEEPALIVE_60, ID_C1),
};

/* A zero-byte client id asks the server for one [MQTT-3.1.3-6]. */
FIXTURE_VARIANT_ADD(connect_bytes, empty_client_id) {
	.opts = { },
	PKT(CONNECT, 12, V311_NAME_LEVEL, 0x02, KEEPALIVE_60, 0x00, 0x00),
};

/* A BOM is sent as is [MQTT-1.5.3-3]. */
FIXTURE_VARIANT_ADD(connect_bytes, client_id_bom_kept) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "\xef\xbb\xbf\xc3\xa9") },
	PKT(CONNECT, 17, V311_NAME_LEVEL, 0x02, KEEPALIVE_60,
	    0x00, 0x05, 0xef, 0xbb, 0xbf, 0xc3, 0xa9),
};

/* User name and password follow the client id [MQTT-3.1.2-18..21]. */
FIXTURE_VARIANT_ADD(connect_bytes, username_and_password) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_USERNAME, "gw"),
		  OPT_STR(MQTT_PASSWORD, "pw") },
	PKT(CONNECT, 22, V311_NAME_LEVEL, 0xc2, KEEPALIVE_60, ID_C1,
	    0x00, 0x02, 'g', 'w', 0x00, 0x02, 'p', 'w'),
};

FIXTURE_VARIANT_ADD(connect_bytes, username_only) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_USERNAME, "gw") },
	PKT(CONNECT, 18, V311_NAME_LEVEL, 0x82, KEEPALIVE_60, ID_C1,
	    0x00, 0x02, 'g', 'w'),
};

/* optlen 0: the user name is present and empty. */
FIXTURE_VARIANT_ADD(connect_bytes, empty_username) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_USERNAME, "") },
	PKT(CONNECT, 16, V311_NAME_LEVEL, 0x82, KEEPALIVE_60, ID_C1,
	    0x00, 0x00),
};

FIXTURE_VARIANT_ADD(connect_bytes, empty_username_with_password) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_USERNAME, ""),
		  OPT_STR(MQTT_PASSWORD, "pw") },
	PKT(CONNECT, 20, V311_NAME_LEVEL, 0xc2, KEEPALIVE_60, ID_C1,
	    0x00, 0x00, 0x00, 0x02, 'p', 'w'),
};

FIXTURE_VARIANT_ADD(connect_bytes, empty_password) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_USERNAME, "u"),
		  OPT_STR(MQTT_PASSWORD, "") },
	PKT(CONNECT, 19, V311_NAME_LEVEL, 0xc2, KEEPALIVE_60, ID_C1,
	    0x00, 0x01, 'u', 0x00, 0x00),
};

FIXTURE_VARIANT_ADD(connect_bytes, binary_password_with_nul) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_USERNAME, "u"),
		  OPT_STR(MQTT_PASSWORD, "\0p\0\xff") },
	PKT(CONNECT, 23, V311_NAME_LEVEL, 0xc2, KEEPALIVE_60, ID_C1,
	    0x00, 0x01, 'u', 0x00, 0x04, 0x00, 'p', 0x00, 0xff),
};

/* Will flag 1: will topic and message follow the id [MQTT-3.1.2-9]. */
#define WILL_OPTS OPT_STR(MQTT_CLIENT_ID, "c1"), \
		  OPT_STR(MQTT_WILL_TOPIC, "w/t"), \
		  OPT_STR(MQTT_WILL_MESSAGE, "bye")
#define WILL_PKT(flags) \
	PKT(CONNECT, 24, V311_NAME_LEVEL, flags, KEEPALIVE_60, ID_C1, \
	    0x00, 0x03, 'w', '/', 't', 0x00, 0x03, 'b', 'y', 'e')

FIXTURE_VARIANT_ADD(connect_bytes, will_qos_0) {
	.opts = { WILL_OPTS },
	WILL_PKT(0x06),
};

FIXTURE_VARIANT_ADD(connect_bytes, will_qos_1) {
	.opts = { WILL_OPTS, OPT_INT(MQTT_WILL_QOS, 1) },
	WILL_PKT(0x0e),
};

FIXTURE_VARIANT_ADD(connect_bytes, will_qos_2) {
	.opts = { WILL_OPTS, OPT_INT(MQTT_WILL_QOS, 2) },
	WILL_PKT(0x16),
};

FIXTURE_VARIANT_ADD(connect_bytes, will_retain) {
	.opts = { WILL_OPTS, OPT_INT(MQTT_WILL_RETAIN, 1) },
	WILL_PKT(0x26),
};

FIXTURE_VARIANT_ADD(connect_bytes, will_qos_2_retain) {
	.opts = { WILL_OPTS, OPT_INT(MQTT_WILL_QOS, 2),
		  OPT_INT(MQTT_WILL_RETAIN, 1) },
	WILL_PKT(0x36),
};

FIXTURE_VARIANT_ADD(connect_bytes, will_binary_message) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_WILL_TOPIC, "w/t"),
		  OPT_STR(MQTT_WILL_MESSAGE, "\0\xff") },
	PKT(CONNECT, 23, V311_NAME_LEVEL, 0x06, KEEPALIVE_60, ID_C1,
	    0x00, 0x03, 'w', '/', 't', 0x00, 0x02, 0x00, 0xff),
};

/* A will topic without a message sends an empty message. */
FIXTURE_VARIANT_ADD(connect_bytes, will_topic_without_message) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_WILL_TOPIC, "w") },
	PKT(CONNECT, 19, V311_NAME_LEVEL, 0x06, KEEPALIVE_60, ID_C1,
	    0x00, 0x01, 'w', 0x00, 0x00),
};

/* Payload order: id, will topic, will message, user, password [MQTT-3.1.3-1]. */
FIXTURE_VARIANT_ADD(connect_bytes, will_and_credentials) {
	.opts = { OPT_STR(MQTT_PASSWORD, "p"),
		  OPT_STR(MQTT_USERNAME, "u"),
		  OPT_STR(MQTT_WILL_MESSAGE, "m"),
		  OPT_STR(MQTT_WILL_TOPIC, "w"),
		  OPT_INT(MQTT_WILL_QOS, 1),
		  OPT_STR(MQTT_CLIENT_ID, "c1") },
	PKT(CONNECT, 26, V311_NAME_LEVEL, 0xce, KEEPALIVE_60, ID_C1,
	    0x00, 0x01, 'w', 0x00, 0x01, 'm', 0x00, 0x01, 'u',
	    0x00, 0x01, 'p'),
};

/*
 * Options set, replaced and emptied in any order, the session's publish
 * topic among them: each keeps its last value, an empty one included.
 */
FIXTURE_VARIANT_ADD(connect_bytes, options_replaced_among_others) {
	.opts = { OPT_STR(MQTT_WILL_MESSAGE, ""),
		  OPT_STR(MQTT_USERNAME, "first"),
		  OPT_STR(MQTT_PASSWORD, "p"),
		  OPT_STR(MQTT_WILL_TOPIC, "w"),
		  OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_USERNAME, "u"),
		  OPT_STR(MQTT_PUBLISH_TOPIC, "z") },
	PKT(CONNECT, 25, V311_NAME_LEVEL, 0xc6, KEEPALIVE_60, ID_C1,
	    0x00, 0x01, 'w', 0x00, 0x00, 0x00, 0x01, 'u',
	    0x00, 0x01, 'p'),
};

/*
 * Without a will topic the will flag, QoS and retain are 0 and no will
 * fields are sent [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15].
 */
FIXTURE_VARIANT_ADD(connect_bytes, will_options_without_topic) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_INT(MQTT_WILL_QOS, 2),
		  OPT_INT(MQTT_WILL_RETAIN, 1),
		  OPT_STR(MQTT_WILL_MESSAGE, "m") },
	PKT(CONNECT, 14, V311_NAME_LEVEL, 0x02, KEEPALIVE_60, ID_C1),
};

FIXTURE_VARIANT_ADD(connect_bytes, clean_session_0) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_INT(MQTT_CLEAN_SESSION, 0) },
	PKT(CONNECT, 14, V311_NAME_LEVEL, 0x00, KEEPALIVE_60, ID_C1),
};

FIXTURE_VARIANT_ADD(connect_bytes, keepalive_0) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_INT(MQTT_KEEPALIVE, 0) },
	PKT(CONNECT, 14, V311_NAME_LEVEL, 0x02, 0x00, 0x00, ID_C1),
};

/* Big-endian [MQTT-1.5.2]: 258 is 01 02. */
FIXTURE_VARIANT_ADD(connect_bytes, keepalive_258) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_INT(MQTT_KEEPALIVE, 258) },
	PKT(CONNECT, 14, V311_NAME_LEVEL, 0x02, 0x01, 0x02, ID_C1),
};

FIXTURE_VARIANT_ADD(connect_bytes, keepalive_65535) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_INT(MQTT_KEEPALIVE, 65535) },
	PKT(CONNECT, 14, V311_NAME_LEVEL, 0x02, 0xff, 0xff, ID_C1),
};

/* MQTT 3.1: protocol name "MQIsdp", level 3. */
FIXTURE_VARIANT_ADD(connect_bytes, level_3) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_INT(MQTT_PROTOCOL_LEVEL, MQTT_PROTOCOL_V31) },
	PKT(CONNECT, 16, V31_NAME_LEVEL, 0x02, KEEPALIVE_60, ID_C1),
};

FIXTURE_VARIANT_ADD(connect_bytes, level_3_with_credentials) {
	.opts = { OPT_STR(MQTT_CLIENT_ID, "c1"),
		  OPT_STR(MQTT_USERNAME, "u"),
		  OPT_STR(MQTT_PASSWORD, "p"),
		  OPT_INT(MQTT_PROTOCOL_LEVEL, MQTT_PROTOCOL_V31) },
	PKT(CONNECT, 22, V31_NAME_LEVEL, 0xc2, KEEPALIVE_60, ID_C1,
	    0x00, 0x01, 'u', 0x00, 0x01, 'p'),
};

/* Remaining length boundaries: 127 | 128 | 16383 | 16384 | 65547. */
FIXTURE_VARIANT_ADD(connect_bytes, remaining_length_127) {
	.id_len = 115, .varint_len = 1,
};

FIXTURE_VARIANT_ADD(connect_bytes, remaining_length_128) {
	.id_len = 116, .varint_len = 2,
};

FIXTURE_VARIANT_ADD(connect_bytes, remaining_length_16383) {
	.id_len = 16371, .varint_len = 2,
};

FIXTURE_VARIANT_ADD(connect_bytes, remaining_length_16384) {
	.id_len = 16372, .varint_len = 3,
};

FIXTURE_VARIANT_ADD(connect_bytes, client_id_65535) {
	.id_len = 65535, .varint_len = 3,
};

FIXTURE_SETUP(connect_bytes)
{
	script_setup(_metadata, &self->peer);
	self->peer.reply = connack_accepted;
	self->peer.reply_len = sizeof(connack_accepted);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
}

FIXTURE_TEARDOWN(connect_bytes)
{
	close(self->fd);
	script_teardown(&self->peer);
}

TEST_F(connect_bytes, peer_receives_exact_connect)
{
	const uint8_t *want = variant->expect;
	size_t want_len = variant->expect_len;
	uint8_t *id = NULL, *built = NULL;
	const struct sopt *o;

	for (o = variant->opts; o->name; o++)
		ASSERT_EQ(0, sopt_set(self->fd, o))
			TH_LOG("option %d: %s", o->name,
			       strerror(sopt_set(self->fd, o)));
	if (variant->id_len) {
		id = malloc(variant->id_len);
		built = malloc(variant->id_len + 32);
		ASSERT_NE(NULL, id);
		ASSERT_NE(NULL, built);
		fill_pattern(id, variant->id_len);
		set_str(_metadata, self->fd, MQTT_CLIENT_ID, id,
			variant->id_len);
		want_len = build_connect_with_id(built, id, variant->id_len);
		want = built;
		/* Check the encoder itself: header = type + varint. */
		ASSERT_EQ(1 + variant->varint_len + 10 + 2 + variant->id_len,
			  want_len);
	}

	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
	close(self->fd);
	self->fd = -1;
	script_join(_metadata, &self->peer);

	expect_bytes(_metadata, want, want_len, self->peer.p.pkt,
		     self->peer.p.pkt_len);
	free(id);
	free(built);
}

/* ---------------------------------------------------------------------- */
/* CONNACK return codes (MQTT 3.1.1 section 3.2.2.3)                        */
/* ---------------------------------------------------------------------- */

FIXTURE(connack) {
	int fd;
	struct script peer;
	uint8_t reply[4];
};

FIXTURE_VARIANT(connack) {
	uint8_t ack_flags;	/* acknowledge flags byte sent */
	uint8_t code;		/* return code sent */
	int clean_session;
	int expect_errno;	/* what connect() reports */
};

FIXTURE_VARIANT_ADD(connack, accepted) {
	.code = 0, .clean_session = 1, .expect_errno = 0,
};

/* Session present is only valid with clean session 0 [MQTT-3.2.2-1]. */
FIXTURE_VARIANT_ADD(connack, accepted_session_present) {
	.ack_flags = 0x01, .code = 0, .clean_session = 0, .expect_errno = 0,
};

FIXTURE_VARIANT_ADD(connack, unacceptable_protocol) {
	.code = 1, .clean_session = 1, .expect_errno = EPROTONOSUPPORT,
};

FIXTURE_VARIANT_ADD(connack, identifier_rejected) {
	.code = 2, .clean_session = 1, .expect_errno = EINVAL,
};

FIXTURE_VARIANT_ADD(connack, server_unavailable) {
	.code = 3, .clean_session = 1, .expect_errno = ECONNREFUSED,
};

FIXTURE_VARIANT_ADD(connack, bad_username_or_password) {
	.code = 4, .clean_session = 1, .expect_errno = EKEYREJECTED,
};

FIXTURE_VARIANT_ADD(connack, not_authorized) {
	.code = 5, .clean_session = 1, .expect_errno = EACCES,
};

/* Reserved codes are refusals, not parse errors. */
FIXTURE_VARIANT_ADD(connack, reserved_6) {
	.code = 6, .clean_session = 1, .expect_errno = ECONNREFUSED,
};

FIXTURE_VARIANT_ADD(connack, reserved_7) {
	.code = 7, .clean_session = 1, .expect_errno = ECONNREFUSED,
};

FIXTURE_VARIANT_ADD(connack, reserved_128) {
	.code = 128, .clean_session = 1, .expect_errno = ECONNREFUSED,
};

FIXTURE_VARIANT_ADD(connack, reserved_255) {
	.code = 255, .clean_session = 1, .expect_errno = ECONNREFUSED,
};

FIXTURE_SETUP(connack)
{
	static const char id[] = "connack-test";

	script_setup(_metadata, &self->peer);
	build_connack(self->reply, variant->ack_flags, variant->code);
	self->peer.reply = self->reply;
	self->peer.reply_len = sizeof(self->reply);
	/*
	 * The peer keeps the connection open after a refusal: connect() must
	 * end on the CONNACK itself, not on the server closing.
	 */
	self->peer.end = PEER_HOLD;
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	set_str(_metadata, self->fd, MQTT_CLIENT_ID, id, sizeof(id) - 1);
	set_int(_metadata, self->fd, MQTT_CLEAN_SESSION,
		variant->clean_session);
}

FIXTURE_TEARDOWN(connack)
{
	close(self->fd);
	script_teardown(&self->peer);
}

TEST_F(connack, blocking_connect_reports_errno)
{
	script_start(_metadata, &self->peer);
	ASSERT_EQ(variant->expect_errno,
		  peer_connect(self->fd, &self->peer.p))
		TH_LOG("want %s", strerror(variant->expect_errno));
}

TEST_F(connack, connack_option_reports_exact_code)
{
	script_start(_metadata, &self->peer);
	ASSERT_EQ(variant->expect_errno,
		  peer_connect(self->fd, &self->peer.p));
	expect_connack(_metadata, self->fd, variant->ack_flags & 1,
		       variant->code);
}

TEST_F(connack, nonblocking_connect_reports_so_error)
{
	short revents;

	set_nonblock(_metadata, self->fd);
	self->peer.wait_go = true;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EINPROGRESS, peer_connect(self->fd, &self->peer.p));
	script_wait_received(_metadata, &self->peer);
	script_go(_metadata, &self->peer);

	revents = poll_fd(_metadata, self->fd, POLLOUT, PEER_TIMEOUT_MS);
	if (variant->expect_errno) {
		ASSERT_EQ(POLLOUT | POLLERR | POLLHUP,
			  revents & (POLLOUT | POLLERR | POLLHUP));
	} else {
		ASSERT_EQ(POLLOUT, revents & (POLLOUT | POLLERR | POLLHUP));
	}
	ASSERT_EQ(variant->expect_errno, so_error(_metadata, self->fd));
	/* Reading SO_ERROR clears it. */
	ASSERT_EQ(0, so_error(_metadata, self->fd));
	expect_connack(_metadata, self->fd, variant->ack_flags & 1,
		       variant->code);
}

/*
 * A server closes the connection after a refusal [MQTT-3.2.2-5]: a CONNACK
 * followed at once by FIN still reports its own code, not ECONNRESET.
 */
TEST_F(connack, server_close_after_connack_keeps_result)
{
	self->peer.end = PEER_FIN;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(variant->expect_errno,
		  peer_connect(self->fd, &self->peer.p))
		TH_LOG("want %s", strerror(variant->expect_errno));
	expect_connack(_metadata, self->fd, variant->ack_flags & 1,
		       variant->code);
}

/* DISCONNECT follows an accepted CONNACK only; a refusal ends silently. */
TEST_F(connack, disconnect_on_close_only_when_accepted)
{
	static const uint8_t disconnect[] = { DISCONNECT_BYTES };

	script_start(_metadata, &self->peer);
	ASSERT_EQ(variant->expect_errno,
		  peer_connect(self->fd, &self->peer.p));
	close(self->fd);
	self->fd = -1;
	script_join(_metadata, &self->peer);
	if (variant->expect_errno) {
		script_expect_silent_end(_metadata, &self->peer);
	} else {
		expect_bytes(_metadata, disconnect, sizeof(disconnect),
			     self->peer.after, self->peer.after_len);
		EXPECT_EQ(CLOSED_EOF, (int)self->peer.closed);
	}
}

/* ---------------------------------------------------------------------- */
/* Malformed first packets: EPROTO                                         */
/* ---------------------------------------------------------------------- */

FIXTURE(malformed) {
	int fd;
	struct script peer;
};

FIXTURE_VARIANT(malformed) {
	uint8_t bytes[8];
	size_t len;
};

/* The first packet from the server is CONNACK [MQTT-3.2.0-1]. */
FIXTURE_VARIANT_ADD(malformed, publish_first) {
	.bytes = { PUBLISH, 0x03, 0x00, 0x01, 't' }, .len = 5,
};

FIXTURE_VARIANT_ADD(malformed, pingresp_first) {
	.bytes = { PINGRESP_BYTES }, .len = 2,
};

FIXTURE_VARIANT_ADD(malformed, suback_first) {
	.bytes = { SUBACK, 0x03, 0x00, 0x01, 0x00 }, .len = 5,
};

/* CONNACK fixed header flags are 0000 [MQTT-2.2.2-1], [MQTT-2.2.2-2]. */
FIXTURE_VARIANT_ADD(malformed, reserved_header_flags) {
	.bytes = { CONNACK | 0x01, 0x02, 0x00, 0x00 }, .len = 4,
};

FIXTURE_VARIANT_ADD(malformed, reserved_header_flag_high) {
	.bytes = { CONNACK | 0x08, 0x02, 0x00, 0x00 }, .len = 4,
};

/* The remaining length of CONNACK is exactly 2. */
FIXTURE_VARIANT_ADD(malformed, remaining_length_3) {
	.bytes = { CONNACK, 0x03, 0x00, 0x00, 0x00 }, .len = 5,
};

FIXTURE_VARIANT_ADD(malformed, remaining_length_1) {
	.bytes = { CONNACK, 0x01, 0x00 }, .len = 3,
};

FIXTURE_VARIANT_ADD(malformed, remaining_length_0) {
	.bytes = { CONNACK, 0x00 }, .len = 2,
};

/* Acknowledge flags bits 7-1 are reserved and 0. */
FIXTURE_VARIANT_ADD(malformed, reserved_ack_flag_bit1) {
	.bytes = { CONNACK, 0x02, 0x02, 0x00 }, .len = 4,
};

FIXTURE_VARIANT_ADD(malformed, reserved_ack_flag_bit7) {
	.bytes = { CONNACK, 0x02, 0x80, 0x00 }, .len = 4,
};

/* Session present with a non-zero code [MQTT-3.2.2-4]. */
FIXTURE_VARIANT_ADD(malformed, session_present_with_refusal) {
	.bytes = { CONNACK, 0x02, 0x01, 0x05 }, .len = 4,
};

/* A fifth remaining length byte is malformed. */
FIXTURE_VARIANT_ADD(malformed, remaining_length_5_bytes) {
	.bytes = { CONNACK, 0x80, 0x80, 0x80, 0x80, 0x01 }, .len = 6,
};

FIXTURE_SETUP(malformed)
{
	script_setup(_metadata, &self->peer);
	self->peer.reply = variant->bytes;
	self->peer.reply_len = variant->len;
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
}

FIXTURE_TEARDOWN(malformed)
{
	close(self->fd);
	script_teardown(&self->peer);
}

TEST_F(malformed, connect_fails_eproto)
{
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EPROTO, peer_connect(self->fd, &self->peer.p));
}

/*
 * A protocol violation closes the network connection [MQTT-4.8.0-1]: the
 * peer sees it end while the AF_MQTT socket is still open, with no
 * DISCONNECT.
 */
TEST_F(malformed, client_closes_connection)
{
	self->peer.hold_ms = 5000;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EPROTO, peer_connect(self->fd, &self->peer.p));
	script_join(_metadata, &self->peer);
	script_expect_silent_end(_metadata, &self->peer);
}

/* ---------------------------------------------------------------------- */
/* Failures, non-blocking and interrupted connects, close() and friends    */
/* ---------------------------------------------------------------------- */

FIXTURE(handshake) {
	int fd;
	struct script peer;
};

FIXTURE_SETUP(handshake)
{
	script_setup(_metadata, &self->peer);
	self->peer.reply = connack_accepted;
	self->peer.reply_len = sizeof(connack_accepted);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
}

FIXTURE_TEARDOWN(handshake)
{
	close(self->fd);
	script_teardown(&self->peer);
}

/* A peer that never sends CONNACK: MQTT_CONNECT_TIMEOUT bounds connect(). */
TEST_F(handshake, silent_peer_times_out)
{
	const int timeout_ms = 300;
	struct mqtt_connack ca;
	int64_t start, elapsed;
	int ret;

	set_int(_metadata, self->fd, MQTT_CONNECT_TIMEOUT, timeout_ms);
	self->peer.reply_len = 0;
	script_start(_metadata, &self->peer);

	start = now_ms();
	ret = peer_connect(self->fd, &self->peer.p);
	elapsed = now_ms() - start;
	ASSERT_EQ(ETIMEDOUT, ret) TH_LOG("connect: %s", strerror(ret));
	EXPECT_LE(timeout_ms - EARLY_SLACK_MS, elapsed);
	EXPECT_GT(timeout_ms + LATE_SLACK_MS, elapsed);
	EXPECT_EQ(ENOTCONN, read_connack(_metadata, self->fd, &ca));

	close(self->fd);
	self->fd = -1;
	script_join(_metadata, &self->peer);
	script_expect_silent_end(_metadata, &self->peer);
}

TEST_F(handshake, peer_fin_before_connack_resets)
{
	struct mqtt_connack ca;

	self->peer.reply_len = 0;
	self->peer.end = PEER_FIN;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(ECONNRESET, peer_connect(self->fd, &self->peer.p));
	EXPECT_EQ(ENOTCONN, read_connack(_metadata, self->fd, &ca));
}

TEST_F(handshake, peer_rst_before_connack_resets)
{
	struct mqtt_connack ca;

	self->peer.reply_len = 0;
	self->peer.end = PEER_RST;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(ECONNRESET, peer_connect(self->fd, &self->peer.p));
	EXPECT_EQ(ENOTCONN, read_connack(_metadata, self->fd, &ca));
}

TEST_F(handshake, nobody_listening_refused)
{
	struct sockaddr_in addr;
	struct mqtt_connack ca;

	closed_port(_metadata, &addr);
	ASSERT_EQ(ECONNREFUSED, connect_in(self->fd, &addr));
	EXPECT_EQ(ENOTCONN, read_connack(_metadata, self->fd, &ca));
}

/* CONNACK may arrive in pieces: the client reassembles it. */
TEST_F(handshake, connack_split_across_segments_accepted)
{
	self->peer.split_ms = 100;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
	expect_connack(_metadata, self->fd, 0, 0);
}

/* A zero-byte client id needs clean session 1 [MQTT-3.1.3-7]. */
TEST_F(handshake, empty_client_id_without_clean_session_rejected_locally)
{
	set_int(_metadata, self->fd, MQTT_CLEAN_SESSION, 0);
	ASSERT_EQ(EINVAL, peer_connect(self->fd, &self->peer.p));
	script_expect_no_connection(_metadata, &self->peer);

	/* The socket stays usable once the options are fixed. */
	set_str(_metadata, self->fd, MQTT_CLIENT_ID, "c1", 2);
	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
}

/* No password flag without the user name flag [MQTT-3.1.2-22]. */
TEST_F(handshake, password_without_username_rejected_locally)
{
	set_str(_metadata, self->fd, MQTT_PASSWORD, "pw", 2);
	ASSERT_EQ(EINVAL, peer_connect(self->fd, &self->peer.p));
	script_expect_no_connection(_metadata, &self->peer);

	set_str(_metadata, self->fd, MQTT_USERNAME, "u", 1);
	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
}

/* An empty password (optlen 0) is a present one: it needs a user name. */
TEST_F(handshake, empty_password_without_username_rejected_locally)
{
	set_str(_metadata, self->fd, MQTT_PASSWORD, "", 0);
	ASSERT_EQ(EINVAL, peer_connect(self->fd, &self->peer.p));
	script_expect_no_connection(_metadata, &self->peer);
}

/* MQTT_CONNACK describes the latest attempt: a new one forgets the old. */
TEST_F(handshake, connack_forgotten_by_next_attempt)
{
	static const uint8_t refusal[] = { CONNACK_HDR, 0x00, 0x05 };
	struct sockaddr_in addr;
	struct mqtt_connack ca;

	self->peer.reply = refusal;
	self->peer.reply_len = sizeof(refusal);
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EACCES, peer_connect(self->fd, &self->peer.p));
	expect_connack(_metadata, self->fd, 0, 5);

	closed_port(_metadata, &addr);
	ASSERT_EQ(ECONNREFUSED, connect_in(self->fd, &addr));
	ASSERT_EQ(ENOTCONN, read_connack(_metadata, self->fd, &ca));
}

/* A rejected password leaves the previous one in place. */
TEST_F(handshake, rejected_password_keeps_old_value)
{
	static const uint8_t want[] = {
		CONNECT, 22, V311_NAME_LEVEL, 0xc2, KEEPALIVE_60, ID_C1,
		0x00, 0x01, 'u', 0x00, 0x03, 'o', 'l', 'd',
	};
	uint8_t *big = malloc(MQTT_MAX_FIELD_LEN + 1);

	ASSERT_NE(NULL, big);
	fill_pattern(big, MQTT_MAX_FIELD_LEN + 1);
	set_str(_metadata, self->fd, MQTT_CLIENT_ID, "c1", 2);
	set_str(_metadata, self->fd, MQTT_USERNAME, "u", 1);
	set_str(_metadata, self->fd, MQTT_PASSWORD, "old", 3);
	ASSERT_EQ(-1, setsockopt(self->fd, SOL_MQTT, MQTT_PASSWORD, big,
				 MQTT_MAX_FIELD_LEN + 1));
	ASSERT_EQ(EINVAL, errno);
	free(big);

	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
	close(self->fd);
	self->fd = -1;
	script_join(_metadata, &self->peer);
	expect_bytes(_metadata, want, sizeof(want), self->peer.p.pkt,
		     self->peer.p.pkt_len);
}

TEST_F(handshake, getpeername_returns_server_address)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin) + 8;

	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
	memset(&sin, 0, sizeof(sin));
	ASSERT_EQ(0, getpeername(self->fd, (struct sockaddr *)&sin, &len));
	ASSERT_EQ(sizeof(sin), (size_t)len);
	EXPECT_EQ(AF_INET, sin.sin_family);
	EXPECT_EQ(self->peer.p.addr.in.sin_port, sin.sin_port);
	EXPECT_EQ(htonl(INADDR_LOOPBACK), sin.sin_addr.s_addr);
}

/* One valid value per option: only the socket state can refuse it. */
static const struct sopt every_option[] = {
	OPT_STR(MQTT_CLIENT_ID, "x"),
	OPT_STR(MQTT_USERNAME, "u"),
	OPT_STR(MQTT_PASSWORD, "p"),
	OPT_INT(MQTT_KEEPALIVE, 5),
	OPT_INT(MQTT_CLEAN_SESSION, 1),
	OPT_STR(MQTT_WILL_TOPIC, "t"),
	OPT_STR(MQTT_WILL_MESSAGE, "m"),
	OPT_INT(MQTT_WILL_QOS, 1),
	OPT_INT(MQTT_WILL_RETAIN, 1),
	OPT_INT(MQTT_PROTOCOL_LEVEL, MQTT_PROTOCOL_V311),
	OPT_INT(MQTT_CONNECT_TIMEOUT, 1000),
};

static void expect_all_options_eisconn(struct __test_metadata *_metadata,
				       int fd)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(every_option); i++)
		EXPECT_EQ(EISCONN, sopt_set(fd, &every_option[i]))
			TH_LOG("option %d", every_option[i].name);
}

TEST_F(handshake, setsockopt_after_connect_eisconn)
{
	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
	expect_all_options_eisconn(_metadata, self->fd);
}

TEST_F(handshake, setsockopt_while_connecting_eisconn)
{
	set_nonblock(_metadata, self->fd);
	self->peer.wait_go = true;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EINPROGRESS, peer_connect(self->fd, &self->peer.p));
	script_wait_received(_metadata, &self->peer);
	expect_all_options_eisconn(_metadata, self->fd);
	script_go(_metadata, &self->peer);
}

TEST_F(handshake, connack_while_connecting_enotconn)
{
	struct mqtt_connack ca;

	set_nonblock(_metadata, self->fd);
	self->peer.wait_go = true;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EINPROGRESS, peer_connect(self->fd, &self->peer.p));
	script_wait_received(_metadata, &self->peer);
	ASSERT_EQ(ENOTCONN, read_connack(_metadata, self->fd, &ca));
	script_go(_metadata, &self->peer);
}

/* SOCK_NONBLOCK: EINPROGRESS, then POLLOUT once CONNACK 0 arrives. */
TEST_F(handshake, nonblocking_connect_completes_on_connack)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	close(self->fd);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET | SOCK_NONBLOCK);
	self->peer.wait_go = true;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EINPROGRESS, peer_connect(self->fd, &self->peer.p));
	script_wait_received(_metadata, &self->peer);
	script_go(_metadata, &self->peer);

	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->fd, POLLOUT,
				   PEER_TIMEOUT_MS) &
			   (POLLOUT | POLLERR | POLLHUP));
	ASSERT_EQ(0, so_error(_metadata, self->fd));
	expect_connack(_metadata, self->fd, 0, 0);
	ASSERT_EQ(0, getpeername(self->fd, (struct sockaddr *)&sin, &len));
	EXPECT_EQ(self->peer.p.addr.in.sin_port, sin.sin_port);
}

/* O_NONBLOCK set with fcntl() after socket() works the same. */
TEST_F(handshake, o_nonblock_connect_completes_on_connack)
{
	set_nonblock(_metadata, self->fd);
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EINPROGRESS, peer_connect(self->fd, &self->peer.p));
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->fd, POLLOUT,
				   PEER_TIMEOUT_MS) &
			   (POLLOUT | POLLERR | POLLHUP));
	ASSERT_EQ(0, so_error(_metadata, self->fd));
	expect_connack(_metadata, self->fd, 0, 0);
}

/* Writable means "CONNACK accepted", not "TCP connected". */
TEST_F(handshake, nonblocking_connect_not_writable_before_connack)
{
	set_nonblock(_metadata, self->fd);
	self->peer.wait_go = true;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EINPROGRESS, peer_connect(self->fd, &self->peer.p));
	script_wait_received(_metadata, &self->peer);
	ASSERT_EQ(0, poll_fd(_metadata, self->fd, POLLOUT, QUIET_MS));
	script_go(_metadata, &self->peer);
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->fd, POLLOUT,
				   PEER_TIMEOUT_MS) &
			   (POLLOUT | POLLERR | POLLHUP));
}

TEST_F(handshake, connect_while_in_progress_ealready)
{
	set_nonblock(_metadata, self->fd);
	self->peer.wait_go = true;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EINPROGRESS, peer_connect(self->fd, &self->peer.p));
	ASSERT_EQ(EALREADY, peer_connect(self->fd, &self->peer.p));
	script_wait_received(_metadata, &self->peer);
	ASSERT_EQ(EALREADY, peer_connect(self->fd, &self->peer.p));
	script_go(_metadata, &self->peer);
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->fd, POLLOUT,
				   PEER_TIMEOUT_MS) &
			   (POLLOUT | POLLERR | POLLHUP));
	ASSERT_EQ(EISCONN, peer_connect(self->fd, &self->peer.p));
}

TEST_F(handshake, connect_after_success_eisconn)
{
	struct sockaddr_in other;

	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
	ASSERT_EQ(EISCONN, peer_connect(self->fd, &self->peer.p));
	closed_port(_metadata, &other);
	ASSERT_EQ(EISCONN, connect_in(self->fd, &other));
}

/* A TCP failure of a non-blocking connect shows up in SO_ERROR. */
TEST_F(handshake, nonblocking_connect_refused_reports_so_error)
{
	struct sockaddr_in addr;
	int ret;

	set_nonblock(_metadata, self->fd);
	closed_port(_metadata, &addr);
	/* Even an outcome known at once is reported through SO_ERROR. */
	ret = connect_in(self->fd, &addr);
	ASSERT_EQ(EINPROGRESS, ret) TH_LOG("connect: %s", strerror(ret));
	ASSERT_EQ(POLLOUT | POLLERR | POLLHUP,
		  poll_fd(_metadata, self->fd, POLLOUT, PEER_TIMEOUT_MS) &
		  (POLLOUT | POLLERR | POLLHUP));
	ASSERT_EQ(ECONNREFUSED, so_error(_metadata, self->fd));
	ASSERT_EQ(0, so_error(_metadata, self->fd));
}

/* SO_SNDTIMEO bounds a blocking connect like TCP's: EINPROGRESS. */
TEST_F(handshake, sndtimeo_expiry_leaves_connect_in_progress)
{
	const int timeout_ms = 300;
	struct timeval tv = { .tv_usec = timeout_ms * 1000 };
	int64_t start, elapsed;
	int ret;

	ASSERT_EQ(0, setsockopt(self->fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				sizeof(tv)));
	self->peer.wait_go = true;
	script_start(_metadata, &self->peer);

	start = now_ms();
	ret = peer_connect(self->fd, &self->peer.p);
	elapsed = now_ms() - start;
	ASSERT_EQ(EINPROGRESS, ret) TH_LOG("connect: %s", strerror(ret));
	EXPECT_LE(timeout_ms - EARLY_SLACK_MS, elapsed);
	EXPECT_GT(timeout_ms + LATE_SLACK_MS, elapsed);

	/* The handshake goes on. */
	script_wait_received(_metadata, &self->peer);
	ASSERT_EQ(EALREADY, peer_connect(self->fd, &self->peer.p));
	script_go(_metadata, &self->peer);
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->fd, POLLOUT,
				   PEER_TIMEOUT_MS) &
			   (POLLOUT | POLLERR | POLLHUP));
	ASSERT_EQ(0, so_error(_metadata, self->fd));
	expect_connack(_metadata, self->fd, 0, 0);
}

/*
 * A signal interrupts a blocking connect with EINTR; the handshake goes on
 * and completes in the background.  The timer repeats so that a signal
 * landing before connect() sleeps cannot make the test miss the sleep.
 */
TEST_F(handshake, signal_interrupts_blocking_connect)
{
	struct sigaction sa = { .sa_handler = count_signal };	/* no SA_RESTART */
	struct itimerval tick = { .it_value.tv_usec = 200000,
				  .it_interval.tv_usec = 200000 };
	struct itimerval off = { };
	int ret;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	self->peer.wait_go = true;
	script_start(_metadata, &self->peer);

	ASSERT_EQ(0, setitimer(ITIMER_REAL, &tick, NULL));
	ret = peer_connect(self->fd, &self->peer.p);
	setitimer(ITIMER_REAL, &off, NULL);
	ASSERT_EQ(EINTR, ret) TH_LOG("connect: %s", strerror(ret));
	ASSERT_LT(0, signals_caught);

	ASSERT_EQ(EALREADY, peer_connect(self->fd, &self->peer.p));
	script_wait_received(_metadata, &self->peer);
	script_go(_metadata, &self->peer);
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->fd, POLLOUT,
				   PEER_TIMEOUT_MS) &
			   (POLLOUT | POLLERR | POLLHUP));
	ASSERT_EQ(0, so_error(_metadata, self->fd));
	expect_connack(_metadata, self->fd, 0, 0);
}

/* close() of a connected socket: DISCONNECT [MQTT-3.14.1-1], then FIN. */
TEST_F(handshake, close_connected_sends_disconnect)
{
	static const uint8_t disconnect[] = { DISCONNECT_BYTES };

	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
	close(self->fd);
	self->fd = -1;
	script_join(_metadata, &self->peer);
	expect_bytes(_metadata, disconnect, sizeof(disconnect),
		     self->peer.after, self->peer.after_len);
	EXPECT_EQ(CLOSED_EOF, (int)self->peer.closed);
}

/* SO_LINGER {1, 0}: an abortive close, no DISCONNECT. */
TEST_F(handshake, abortive_close_sends_no_disconnect)
{
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };

	script_start(_metadata, &self->peer);
	ASSERT_EQ(0, peer_connect(self->fd, &self->peer.p));
	ASSERT_EQ(0, setsockopt(self->fd, SOL_SOCKET, SO_LINGER,
				&abort_close, sizeof(abort_close)));
	close(self->fd);
	self->fd = -1;
	script_join(_metadata, &self->peer);
	script_expect_silent_end(_metadata, &self->peer);
}

/* close() during the handshake aborts it: no DISCONNECT. */
TEST_F(handshake, close_during_connect_aborts_handshake)
{
	set_nonblock(_metadata, self->fd);
	self->peer.reply_len = 0;
	script_start(_metadata, &self->peer);
	ASSERT_EQ(EINPROGRESS, peer_connect(self->fd, &self->peer.p));
	script_wait_received(_metadata, &self->peer);
	close(self->fd);
	self->fd = -1;
	script_join(_metadata, &self->peer);
	script_expect_silent_end(_metadata, &self->peer);
}

/* ---------------------------------------------------------------------- */
/* Reuse: a socket whose connect failed connects again, options kept       */
/* ---------------------------------------------------------------------- */

FIXTURE(reuse) {
	int fd;
	struct script bad;	/* makes the first connect fail */
	struct script good;	/* accepts the second */
};

FIXTURE_VARIANT(reuse) {
	uint8_t reply[8];
	size_t reply_len;
	enum peer_end end;
	bool nobody_listening;
	int timeout_ms;		/* MQTT_CONNECT_TIMEOUT of the first try */
	int expect_errno;
};

FIXTURE_VARIANT_ADD(reuse, after_refusal) {
	.reply = { CONNACK_HDR, 0x00, 0x05 }, .reply_len = 4,
	.expect_errno = EACCES,
};

FIXTURE_VARIANT_ADD(reuse, after_protocol_error) {
	.reply = { CONNACK | 0x01, 0x02, 0x00, 0x00 }, .reply_len = 4,
	.expect_errno = EPROTO,
};

FIXTURE_VARIANT_ADD(reuse, after_timeout) {
	.timeout_ms = 300, .expect_errno = ETIMEDOUT,
};

FIXTURE_VARIANT_ADD(reuse, after_peer_fin) {
	.end = PEER_FIN, .expect_errno = ECONNRESET,
};

FIXTURE_VARIANT_ADD(reuse, after_peer_rst) {
	.end = PEER_RST, .expect_errno = ECONNRESET,
};

FIXTURE_VARIANT_ADD(reuse, after_tcp_refused) {
	.nobody_listening = true, .expect_errno = ECONNREFUSED,
};

FIXTURE_SETUP(reuse)
{
	script_setup(_metadata, &self->bad);
	self->bad.reply = variant->reply;
	self->bad.reply_len = variant->reply_len;
	self->bad.end = variant->end;
	script_setup(_metadata, &self->good);
	self->good.reply = connack_accepted;
	self->good.reply_len = sizeof(connack_accepted);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
}

FIXTURE_TEARDOWN(reuse)
{
	close(self->fd);
	script_teardown(&self->bad);
	script_teardown(&self->good);
}

TEST_F(reuse, reconnect_after_failure_keeps_options)
{
	static const uint8_t want[] = {
		CONNECT, 17, V311_NAME_LEVEL, 0x02, 0x00, 0x07,
		0x00, 0x05, 'r', 'e', 'u', 's', 'e',
	};
	struct sockaddr_in first = self->bad.p.addr.in;

	set_str(_metadata, self->fd, MQTT_CLIENT_ID, "reuse", 5);
	set_int(_metadata, self->fd, MQTT_KEEPALIVE, 7);
	if (variant->timeout_ms)
		set_int(_metadata, self->fd, MQTT_CONNECT_TIMEOUT,
			variant->timeout_ms);
	if (variant->nobody_listening)
		closed_port(_metadata, &first);
	else
		script_start(_metadata, &self->bad);
	ASSERT_EQ(variant->expect_errno, connect_in(self->fd, &first))
		TH_LOG("want %s", strerror(variant->expect_errno));

	/* Options are settable again once the attempt is over. */
	set_int(_metadata, self->fd, MQTT_CONNECT_TIMEOUT,
		TEST_CONNECT_TIMEOUT_MS);
	script_start(_metadata, &self->good);
	ASSERT_EQ(0, peer_connect(self->fd, &self->good.p));
	expect_connack(_metadata, self->fd, 0, 0);
	close(self->fd);
	self->fd = -1;

	script_join(_metadata, &self->good);
	expect_bytes(_metadata, want, sizeof(want), self->good.p.pkt,
		     self->good.p.pkt_len);
	if (!variant->nobody_listening) {
		script_join(_metadata, &self->bad);
		/* The first connection is gone (unless the peer reset it). */
		if (variant->end != PEER_RST)
			EXPECT_NE(CLOSED_NOT, (int)self->bad.closed);
	}
}

/* ---------------------------------------------------------------------- */
/* The real broker: mosquitto, started by the VM runner                    */
/* ---------------------------------------------------------------------- */

FIXTURE(broker) {
	int fd;
	char id[64];
	struct sockaddr_in anon;
	struct sockaddr_in auth;
};

FIXTURE_SETUP(broker)
{
	require_broker(_metadata, "MQTT_BROKER_PORT", 1883);
	snprintf(self->id, sizeof(self->id), "ksft-mqtt-%d", getpid());
	self->anon = broker_in("MQTT_BROKER_PORT", 1883);
	self->auth = broker_in("MQTT_BROKER_AUTH_PORT", 1884);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
}

FIXTURE_TEARDOWN(broker)
{
	close(self->fd);
}

static void set_id(struct __test_metadata *_metadata, int fd, const char *id)
{
	set_str(_metadata, fd, MQTT_CLIENT_ID, id, strlen(id));
}

static void set_credentials(struct __test_metadata *_metadata, int fd,
			    const char *user, const char *pass)
{
	set_str(_metadata, fd, MQTT_USERNAME, user, strlen(user));
	set_str(_metadata, fd, MQTT_PASSWORD, pass, strlen(pass));
}

TEST_F(broker, anonymous_connect_accepted)
{
	int ret;

	set_id(_metadata, self->fd, self->id);
	ret = connect_in(self->fd, &self->anon);
	ASSERT_EQ(0, ret) TH_LOG("broker on port %d: %s",
				 ntohs(self->anon.sin_port), strerror(ret));
	expect_connack(_metadata, self->fd, 0, 0);
}

TEST_F(broker, getpeername_returns_broker_address)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	set_id(_metadata, self->fd, self->id);
	ASSERT_EQ(0, connect_in(self->fd, &self->anon));
	ASSERT_EQ(0, getpeername(self->fd, (struct sockaddr *)&sin, &len));
	ASSERT_EQ(sizeof(sin), (size_t)len);
	EXPECT_EQ(AF_INET, sin.sin_family);
	EXPECT_EQ(self->anon.sin_port, sin.sin_port);
	EXPECT_EQ(htonl(INADDR_LOOPBACK), sin.sin_addr.s_addr);
}

/* A zero-byte client id with clean session 1: the broker assigns one. */
TEST_F(broker, empty_client_id_accepted)
{
	ASSERT_EQ(0, connect_in(self->fd, &self->anon));
	expect_connack(_metadata, self->fd, 0, 0);
}

TEST_F(broker, right_password_accepted)
{
	int ret;

	require_broker(_metadata, "MQTT_BROKER_AUTH_PORT", 1884);

	set_id(_metadata, self->fd, self->id);
	set_credentials(_metadata, self->fd,
			env_str("MQTT_BROKER_USER", "gw"),
			env_str("MQTT_BROKER_PASS", "gw-secret"));
	ret = connect_in(self->fd, &self->auth);
	ASSERT_EQ(0, ret) TH_LOG("broker on port %d: %s",
				 ntohs(self->auth.sin_port), strerror(ret));
	expect_connack(_metadata, self->fd, 0, 0);
}

/* mosquitto 2.0 answers 5 (not authorized), others 4: errno follows. */
TEST_F(broker, wrong_password_refused)
{
	struct mqtt_connack ca;
	int ret;

	require_broker(_metadata, "MQTT_BROKER_AUTH_PORT", 1884);

	set_id(_metadata, self->fd, self->id);
	set_credentials(_metadata, self->fd,
			env_str("MQTT_BROKER_USER", "gw"), "not-the-password");
	ret = connect_in(self->fd, &self->auth);
	ASSERT_NE(0, ret);
	ASSERT_EQ(0, read_connack(_metadata, self->fd, &ca))
		TH_LOG("connect failed without a CONNACK: %s", strerror(ret));
	EXPECT_EQ(0, ca.session_present);
	ASSERT_TRUE(ca.return_code == MQTT_CONNACK_BAD_USERNAME_OR_PASSWORD ||
		    ca.return_code == MQTT_CONNACK_NOT_AUTHORIZED)
		TH_LOG("return code %d", ca.return_code);
	ASSERT_EQ(errno_for_code(ca.return_code), ret)
		TH_LOG("code %d gave %s", ca.return_code, strerror(ret));
}

TEST_F(broker, ipv6_loopback_accepted)
{
	struct sockaddr_in6 sin6 = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(env_port("MQTT_BROKER_V6_PORT", 1885)),
		.sin6_addr = IN6ADDR_LOOPBACK_INIT,
	};
	struct sockaddr_in6 peer;
	socklen_t len = sizeof(peer);
	int ret;

	set_id(_metadata, self->fd, self->id);
	ret = connect_errno(self->fd, &sin6, sizeof(sin6));
	ASSERT_EQ(0, ret) TH_LOG("broker on [::1]:%d: %s",
				 ntohs(sin6.sin6_port), strerror(ret));
	expect_connack(_metadata, self->fd, 0, 0);
	ASSERT_EQ(0, getpeername(self->fd, (struct sockaddr *)&peer, &len));
	ASSERT_EQ(sizeof(peer), (size_t)len);
	EXPECT_EQ(AF_INET6, peer.sin6_family);
	EXPECT_EQ(sin6.sin6_port, peer.sin6_port);
	EXPECT_EQ(0, memcmp(&in6addr_loopback, &peer.sin6_addr,
			    sizeof(peer.sin6_addr)));
}

/* One connect of a fresh socket with the given session flag. */
static void broker_session(struct __test_metadata *_metadata,
			   const struct sockaddr_in *addr, const char *id,
			   int clean_session, int session_present)
{
	int fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	int ret;

	set_id(_metadata, fd, id);
	set_int(_metadata, fd, MQTT_CLEAN_SESSION, clean_session);
	ret = connect_in(fd, addr);
	ASSERT_EQ(0, ret) TH_LOG("clean session %d: %s", clean_session,
				 strerror(ret));
	expect_connack(_metadata, fd, session_present, 0);
	close(fd);
}

/*
 * Clean session 0 keeps the session [MQTT-3.1.2-4]: the next connect sees
 * session present 1.  Clean session 1 discards it [MQTT-3.1.2-6] and is
 * answered with session present 0 [MQTT-3.2.2-1].
 */
TEST_F(broker, session_present_after_persistent_reconnect)
{
	broker_session(_metadata, &self->anon, self->id, 1, 0);
	broker_session(_metadata, &self->anon, self->id, 0, 0);
	broker_session(_metadata, &self->anon, self->id, 0, 1);
	broker_session(_metadata, &self->anon, self->id, 1, 0);
}

TEST_HARNESS_MAIN
