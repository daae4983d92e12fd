/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the AF_MQTT selftests: the family in use, socket and
 * option shortcuts, bounded waits, byte comparison with a hex dump, where
 * the VM runner's broker listens, sending and receiving messages with
 * their SOL_MQTT cmsgs, delivery reports and subscription requests.
 * Include it instead of kselftest_harness.h.  The helpers taking
 * _metadata ASSERT, so they may run in a test's main thread only.
 */
#ifndef MQTT_TEST_H
#define MQTT_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/errqueue.h>
#include <linux/mqtt.h>

/* The 6.1 harness has unused parameters; -Wextra is for our own code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

/* Bounds every wait of the scripted peer and of the test on the peer. */
#define PEER_TIMEOUT_MS		10000
/* MQTT_CONNECT_TIMEOUT of sockets under test: below the harness' 30 s. */
#define TEST_CONNECT_TIMEOUT_MS	10000
/* How long the tests watch for something that must not happen. */
#define QUIET_MS		300
/* Emulated VMs are slow: allowed lateness of a timer-driven event. */
#define LATE_SLACK_MS		2000
/* Allowed earliness of a kernel timer (one jiffy at HZ=100). */
#define EARLY_SLACK_MS		10

/* MQTT_ACK_TIMEOUT of sockets under test: below the harness' 30 s. */
#define TEST_ACK_TIMEOUT_MS	8000

/* The family in use: the module parameter can move it from AF_MQTT. */
static inline int mqtt_family(void)
{
	static int family = -1;
	FILE *f;

	if (family >= 0)
		return family;
	family = AF_MQTT;
	f = fopen("/sys/module/mqtt/parameters/family", "r");
	if (f) {
		if (fscanf(f, "%d", &family) != 1)
			family = AF_MQTT;
		fclose(f);
	}
	return family;
}

/*
 * Skip the whole program only when the feature is genuinely missing: no
 * mqtt module and no AF_MQTT.  A loaded module whose socket() fails is a
 * failure the tests report.
 */
static void __attribute__((constructor)) require_af_mqtt(void)
{
	int fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);

	if (fd >= 0) {
		close(fd);
		return;
	}
	if (errno == EAFNOSUPPORT && access("/sys/module/mqtt", F_OK)) {
		ksft_print_header();
		ksft_exit_skip("AF_MQTT unavailable: mqtt.ko is not loaded\n");
	}
}

static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 'a'..'z' repeated: valid UTF-8, no wildcards, no NUL. */
static inline void fill_pattern(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = 'a' + i % 26;
}

static inline void set_int(struct __test_metadata *_metadata, int fd, int name,
			   int val)
{
	ASSERT_EQ(0, setsockopt(fd, SOL_MQTT, name, &val, sizeof(val)))
		TH_LOG("setsockopt(%d, %d): %s", name, val, strerror(errno));
}

static inline void set_str(struct __test_metadata *_metadata, int fd, int name,
			   const void *val, size_t len)
{
	ASSERT_EQ(0, setsockopt(fd, SOL_MQTT, name, val, len))
		TH_LOG("setsockopt(%d, %zu bytes): %s", name, len,
		       strerror(errno));
}

static inline int get_int(struct __test_metadata *_metadata, int fd, int name)
{
	int val = -12345;
	socklen_t len = sizeof(val);

	ASSERT_EQ(0, getsockopt(fd, SOL_MQTT, name, &val, &len))
		TH_LOG("getsockopt(%d): %s", name, strerror(errno));
	ASSERT_EQ(sizeof(int), (size_t)len);
	return val;
}

/* getsockopt(SOL_MQTT) into buf of *len bytes: 0 or the errno. */
static inline int get_opt(int fd, int name, void *buf, socklen_t *len)
{
	return getsockopt(fd, SOL_MQTT, name, buf, len) ? errno : 0;
}

/* An AF_MQTT socket whose connect() cannot outlast the harness timeout. */
static inline int mqtt_socket(struct __test_metadata *_metadata, int type)
{
	int fd = socket(mqtt_family(), type, 0);

	ASSERT_LE(0, fd) TH_LOG("socket(%d): %s", mqtt_family(),
				strerror(errno));
	set_int(_metadata, fd, MQTT_CONNECT_TIMEOUT, TEST_CONNECT_TIMEOUT_MS);
	return fd;
}

/* connect() to an IPv4 or IPv6 address: 0 or the errno. */
static inline int connect_errno(int fd, const void *addr, socklen_t len)
{
	return connect(fd, addr, len) ? errno : 0;
}

static inline int connect_in(int fd, const struct sockaddr_in *addr)
{
	return connect_errno(fd, addr, sizeof(*addr));
}

static inline int so_error(struct __test_metadata *_metadata, int fd)
{
	int err = -1;
	socklen_t len = sizeof(err);

	ASSERT_EQ(0, getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len));
	return err;
}

/* MQTT_CONNACK into *ca: 0 or the errno. */
static inline int read_connack(struct __test_metadata *_metadata, int fd,
			       struct mqtt_connack *ca)
{
	socklen_t len = sizeof(*ca);

	memset(ca, 0xa5, sizeof(*ca));
	if (getsockopt(fd, SOL_MQTT, MQTT_CONNACK, ca, &len))
		return errno;
	EXPECT_EQ(sizeof(*ca), (size_t)len);
	EXPECT_EQ(0, ca->reserved);
	return 0;
}

static inline void expect_connack(struct __test_metadata *_metadata, int fd,
				  int session_present, int code)
{
	struct mqtt_connack ca;

	ASSERT_EQ(0, read_connack(_metadata, fd, &ca));
	EXPECT_EQ(session_present, ca.session_present);
	EXPECT_EQ(code, ca.return_code);
}

/* revents of one poll() on fd, 0 on timeout. */
static inline short poll_fd(struct __test_metadata *_metadata, int fd,
			    short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int ret = poll(&pfd, 1, timeout_ms);

	ASSERT_LE(0, ret) TH_LOG("poll: %s", strerror(errno));
	return ret ? pfd.revents : 0;
}

/*
 * Wait until the session is over: poll() with no events returns only
 * POLLERR/POLLHUP.  POLLERR alone may come first: the reports of the
 * messages lost are queued before the session shows as ended, so wait
 * for POLLHUP.  Returns the events then seen with every event asked.
 */
static inline short wait_session_end(struct __test_metadata *_metadata, int fd)
{
	int64_t deadline = now_ms() + PEER_TIMEOUT_MS;
	short ev;

	for (;;) {
		ev = poll_fd(_metadata, fd, 0, PEER_TIMEOUT_MS);
		if ((ev & POLLHUP) || now_ms() >= deadline)
			break;
		usleep(1000);
	}
	ASSERT_EQ(POLLERR | POLLHUP, ev & (POLLERR | POLLHUP))
		TH_LOG("the session did not end (revents %#x)", ev);
	return poll_fd(_metadata, fd, POLLIN | POLLOUT | POLLRDHUP, 0);
}

static inline void set_nonblock(struct __test_metadata *_metadata, int fd)
{
	int flags = fcntl(fd, F_GETFL);

	ASSERT_LE(0, flags);
	ASSERT_EQ(0, fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

static inline void log_hex(struct __test_metadata *_metadata, const char *what,
			   const uint8_t *buf, size_t len, size_t from)
{
	char line[3 * 32 + 1];
	size_t i, n = 0;

	for (i = from; i < len && i < from + 32; i++)
		n += snprintf(line + n, sizeof(line) - n, " %02x", buf[i]);
	line[n] = '\0';
	TH_LOG("%s[%zu..]:%s", what, from, line);
}

/* got must equal want byte for byte; on a mismatch show where. */
static inline void expect_bytes(struct __test_metadata *_metadata,
				const uint8_t *want, size_t want_len,
				const uint8_t *got, size_t got_len)
{
	size_t i = 0, from;

	while (i < want_len && i < got_len && want[i] == got[i])
		i++;
	if (i == want_len && i == got_len)
		return;
	from = i > 8 ? i - 8 : 0;
	TH_LOG("bytes differ at offset %zu (want %zu bytes, got %zu)",
	       i, want_len, got_len);
	log_hex(_metadata, "want", want, want_len, from);
	log_hex(_metadata, "got ", got, got_len, from);
	ASSERT_EQ(want_len, got_len);
	ASSERT_EQ(want[i], got[i]);
}

/* Readable within timeout_ms; signals do not cut the wait short. */
static inline bool wait_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ret;

	do {
		ret = poll(&pfd, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	return ret == 1;
}

/* MQTT Remaining Length encoding of val into p; returns its size. */
static inline size_t put_varint(uint8_t *p, size_t val)
{
	size_t n = 0;

	do {
		p[n] = val % 128;
		val /= 128;
		if (val)
			p[n] |= 0x80;
		n++;
	} while (val);
	return n;
}

/* A /proc/meminfo value in kB, -1 if absent. */
static inline long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			val = atol(line + klen + 1);
			break;
		}
	fclose(f);
	return val;
}

/* Where the VM runner's broker listens: MQTT_BROKER_* variables. */
static inline int env_port(const char *name, int def)
{
	const char *val = getenv(name);

	return val && *val ? atoi(val) : def;
}

static inline const char *env_str(const char *name, const char *def)
{
	const char *val = getenv(name);

	return val && *val ? val : def;
}

static inline struct sockaddr_in broker_in(const char *port_env, int def)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(env_port(port_env, def)),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};

	return sin;
}

/*
 * A test that needs the real broker (mosquitto) calls this first, before
 * it allocates anything.  When no broker answers on 127.0.0.1 at the port
 * of port_env, a test run by hand is skipped with the reason; under the
 * VM runner (make check), which starts the broker and exports
 * MQTT_TEST_BROKER_REQUIRED=1, it fails instead: no silently skipped case.
 *
 * The 6.1 harness runs a TEST_F body even after its setup called SKIP();
 * the longjmp() (what a failed ASSERT does) ends the test right here, in
 * a setup too, without teardown, and reports the skip.
 */
static inline void require_broker(struct __test_metadata *_metadata,
				  const char *port_env, int def)
{
	struct sockaddr_in addr = broker_in(port_env, def);
	int fd = socket(AF_INET, SOCK_STREAM, 0), err = 0;

	ASSERT_LE(0, fd) TH_LOG("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		err = errno;
	close(fd);
	if (!err)
		return;
	if (*env_str("MQTT_TEST_BROKER_REQUIRED", "0") == '1')
		ASSERT_EQ(0, err)
			TH_LOG("no broker on 127.0.0.1:%d (%s), and the runner "
			       "requires one (MQTT_TEST_BROKER_REQUIRED=1)",
			       ntohs(addr.sin_port), strerror(err));
	SKIP(longjmp(_metadata->env, 1),
	     "no MQTT broker on 127.0.0.1:%d (%s): start mosquitto, or set %s",
	     ntohs(addr.sin_port), strerror(err), port_env);
}

/* ---------------------------------------------------------------------- */
/* The AF_MQTT socket: send with cmsgs, receive with cmsgs                 */
/* ---------------------------------------------------------------------- */

#define NO_CMSG		INT_MIN

/* Per-message settings of a send: NO_CMSG leaves the socket default. */
struct pub {
	const void *topic;	/* NULL: no topic cmsg */
	size_t topic_len;
	int qos;
	int retain;
};

#define PUB_DEFAULTS	((struct pub){ .qos = NO_CMSG, .retain = NO_CMSG })

static inline struct cmsghdr *add_cmsg(struct cmsghdr *c, int type,
				       const void *data, size_t len)
{
	c->cmsg_level = SOL_MQTT;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	return (struct cmsghdr *)((char *)c + CMSG_SPACE(len));
}

/* sendmsg() of one message: its return value, or -errno. */
static inline ssize_t mqtt_send(int fd, const struct pub *o, const void *buf,
				size_t len, int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t cap = CMSG_SPACE(o->topic ? o->topic_len : 0) +
		     2 * CMSG_SPACE(sizeof(int));
	struct cmsghdr *c;
	void *control;
	ssize_t ret;

	control = calloc(1, cap);
	if (!control)
		return -ENOMEM;
	c = control;
	if (o->topic)
		c = add_cmsg(c, MQTT_PUBLISH_TOPIC, o->topic, o->topic_len);
	if (o->qos != NO_CMSG)
		c = add_cmsg(c, MQTT_PUBLISH_QOS, &o->qos, sizeof(int));
	if (o->retain != NO_CMSG)
		c = add_cmsg(c, MQTT_PUBLISH_RETAIN, &o->retain, sizeof(int));
	if (c != control) {
		msg.msg_control = control;
		msg.msg_controllen = (char *)c - (char *)control;
	}
	ret = sendmsg(fd, &msg, flags);
	if (ret < 0)
		ret = -errno;
	free(control);
	return ret;
}

/* Send with a NUL-terminated topic and QoS as cmsgs: must succeed. */
static inline void publish(struct __test_metadata *_metadata, int fd,
			   const char *topic, int qos, const void *buf,
			   size_t len)
{
	struct pub o = { .topic = topic, .topic_len = strlen(topic),
			 .qos = qos, .retain = NO_CMSG };
	ssize_t ret = mqtt_send(fd, &o, buf, len, MSG_NOSIGNAL);

	ASSERT_EQ((ssize_t)len, ret) TH_LOG("send: %s", strerror(-ret));
}

/* What one recvmsg() returned. */
struct rmsg {
	ssize_t ret;		/* or -errno */
	int flags;		/* msg_flags */
	uint8_t topic[MQTT_MAX_FIELD_LEN + 1];
	ssize_t topic_len;	/* -1: no topic cmsg */
	int qos, retain, dup;	/* -1: no cmsg */
	int other_cmsgs;	/* cmsgs of any other kind */
};

/* recvmsg() into buf with a control buffer of clen bytes. */
static inline void mqtt_recv_ctl(struct rmsg *m, int fd, void *buf, size_t len,
				 int flags, size_t clen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	int val;

	m->topic_len = -1;
	m->qos = m->retain = m->dup = -1;
	m->other_cmsgs = 0;
	msg.msg_control = clen ? calloc(1, clen) : NULL;
	msg.msg_controllen = clen;
	m->ret = recvmsg(fd, &msg, flags);
	if (m->ret < 0) {
		m->ret = -errno;
		free(msg.msg_control);
		return;
	}
	m->flags = msg.msg_flags;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t dlen = c->cmsg_len - CMSG_LEN(0);

		if (c->cmsg_level != SOL_MQTT) {
			m->other_cmsgs++;
			continue;
		}
		if (c->cmsg_type == MQTT_PUBLISH_TOPIC &&
		    dlen <= sizeof(m->topic)) {
			memcpy(m->topic, CMSG_DATA(c), dlen);
			m->topic_len = dlen;
			continue;
		}
		if (dlen != sizeof(int)) {
			m->other_cmsgs++;
			continue;
		}
		memcpy(&val, CMSG_DATA(c), sizeof(val));
		switch (c->cmsg_type) {
		case MQTT_PUBLISH_QOS:
			m->qos = val;
			break;
		case MQTT_PUBLISH_RETAIN:
			m->retain = val;
			break;
		case MQTT_PUBLISH_DUP:
			m->dup = val;
			break;
		default:
			m->other_cmsgs++;
		}
	}
	free(msg.msg_control);
}

/* Room for every cmsg a received message carries. */
#define RECV_CONTROL	(CMSG_SPACE(MQTT_MAX_FIELD_LEN) + \
			 3 * CMSG_SPACE(sizeof(int)))

static inline void mqtt_recv(struct rmsg *m, int fd, void *buf, size_t len,
			     int flags)
{
	mqtt_recv_ctl(m, fd, buf, len, flags, RECV_CONTROL);
}

/* Wait for a message (bounded), then receive it with flags. */
static inline void recv_wait(struct __test_metadata *_metadata, struct rmsg *m,
			     int fd, void *buf, size_t len, int flags)
{
	ASSERT_EQ(POLLIN, poll_fd(_metadata, fd, POLLIN, PEER_TIMEOUT_MS) &
			  (POLLIN | POLLERR))
		TH_LOG("no message arrived");
	mqtt_recv(m, fd, buf, len, flags);
	ASSERT_LE(0, m->ret) TH_LOG("recvmsg: %s", strerror(-m->ret));
}

/* A whole message with this topic, payload, QoS, retain and DUP. */
static inline void expect_msg(struct __test_metadata *_metadata,
			      const struct rmsg *m, const uint8_t *buf,
			      const char *topic, const void *payload,
			      size_t len, int qos, int retain, int dup)
{
	ASSERT_EQ((ssize_t)len, m->ret);
	ASSERT_EQ(0, memcmp(buf, payload, len));
	EXPECT_EQ(MSG_EOR, m->flags & (MSG_EOR | MSG_TRUNC | MSG_CTRUNC));
	ASSERT_EQ((ssize_t)strlen(topic), m->topic_len);
	EXPECT_EQ(0, memcmp(m->topic, topic, m->topic_len));
	EXPECT_EQ(qos, m->qos);
	EXPECT_EQ(retain, m->retain);
	EXPECT_EQ(dup, m->dup);
	EXPECT_EQ(0, m->other_cmsgs);
}

/* Nothing to receive: a non-blocking recv fails EAGAIN. */
static inline void expect_no_msg(struct __test_metadata *_metadata, int fd)
{
	struct rmsg m;
	uint8_t buf[64];

	mqtt_recv(&m, fd, buf, sizeof(buf), MSG_DONTWAIT);
	ASSERT_EQ(-EAGAIN, m.ret) TH_LOG("got %zd bytes", m.ret);
}

/* Poll until MQTT_INFLIGHT reads want (acks are processed in a work). */
static inline void wait_inflight(struct __test_metadata *_metadata, int fd,
				 int want)
{
	int64_t deadline = now_ms() + PEER_TIMEOUT_MS;
	int got;

	for (;;) {
		got = get_int(_metadata, fd, MQTT_INFLIGHT);
		if (got == want || now_ms() > deadline)
			break;
		usleep(5000);
	}
	ASSERT_EQ(want, got);
}

/* ---------------------------------------------------------------------- */
/* Delivery reports                                                        */
/* ---------------------------------------------------------------------- */

#define REPORT_NONE	(-1)

/*
 * Drain the error queue into outcome[0..n-1] (REPORT_NONE until
 * reported).  A number reported twice or beyond n fails the test.
 * Returns how many reports were read.
 */
static inline int read_reports(struct __test_metadata *_metadata, int fd,
			       int *outcome, int n)
{
	char control[256];
	struct msghdr msg;
	struct sock_extended_err ee;
	struct cmsghdr *c;
	uint32_t i;
	int reports = 0;
	char data;
	struct iovec iov = { .iov_base = &data, .iov_len = sizeof(data) };

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			ASSERT_EQ(EAGAIN, errno)
				TH_LOG("MSG_ERRQUEUE: %s", strerror(errno));
			return reports;
		}
		EXPECT_FALSE(msg.msg_flags & MSG_CTRUNC);
		c = CMSG_FIRSTHDR(&msg);
		ASSERT_NE(NULL, c) TH_LOG("error queue entry without cmsg");
		ASSERT_EQ(SOL_MQTT, c->cmsg_level);
		ASSERT_EQ(MQTT_DELIVERY_REPORTS, c->cmsg_type);
		ASSERT_LE(CMSG_LEN(sizeof(ee)), c->cmsg_len);
		memcpy(&ee, CMSG_DATA(c), sizeof(ee));
		ASSERT_EQ(SO_EE_ORIGIN_MQTT, ee.ee_origin);
		ASSERT_LE(ee.ee_info, ee.ee_data)
			TH_LOG("range %u..%u", ee.ee_info, ee.ee_data);
		ASSERT_GT((uint32_t)n, ee.ee_data)
			TH_LOG("report for message %u of %d", ee.ee_data, n);
		for (i = ee.ee_info; i <= ee.ee_data; i++) {
			ASSERT_EQ(REPORT_NONE, outcome[i])
				TH_LOG("message %u reported twice", i);
			outcome[i] = ee.ee_errno;
		}
		reports++;
	}
}

/* Wait (bounded) until messages 0..n-1 all have an outcome. */
static inline void wait_reports(struct __test_metadata *_metadata, int fd,
				int *outcome, int n)
{
	int64_t deadline = now_ms() + PEER_TIMEOUT_MS;
	int i, missing;

	for (;;) {
		read_reports(_metadata, fd, outcome, n);
		for (i = 0, missing = 0; i < n; i++)
			missing += outcome[i] == REPORT_NONE;
		if (!missing || now_ms() > deadline)
			break;
		poll_fd(_metadata, fd, 0, 20);
	}
	for (i = 0; i < n; i++)
		ASSERT_NE(REPORT_NONE, outcome[i])
			TH_LOG("no report for message %d", i);
}

static inline void reports_init(int *outcome, int n)
{
	int i;

	for (i = 0; i < n; i++)
		outcome[i] = REPORT_NONE;
}

/* A struct mqtt_subscription with its filter, as setsockopt takes it. */
struct sub_buf {
	struct mqtt_subscription sub;
	char filter[MQTT_MAX_FIELD_LEN + 8];
};

static inline socklen_t sub_fill(struct sub_buf *b, int qos, const void *filter,
				 size_t len)
{
	memset(&b->sub, 0, sizeof(b->sub));
	b->sub.qos = qos;
	b->sub.filter_len = len;
	memcpy(b->sub.filter, filter, len);
	return sizeof(b->sub) + len;
}

#endif /* MQTT_TEST_H */
