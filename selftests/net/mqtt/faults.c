// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT under allocation failures and hostile brokers.
 *
 * Fault injection (needs CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB and
 * CONFIG_FAULT_INJECTION_DEBUG_FS; CONFIG_FAIL_PAGE_ALLOC is used when
 * present; without them the tests SKIP): for n = 1, 2, ... the n-th
 * allocation of the calling task inside one connect(), one sendmsg(), one
 * setsockopt(MQTT_SUBSCRIBE), and one connect() that also receives the
 * broker's first PUBLISHes (the receive path runs in the caller while it
 * waits for the CONNACK), is made to fail through
 * /proc/thread-self/fail-nth, until the call completes without reaching
 * the n-th allocation.  Every outcome must be success or an errno from a
 * short list; the socket must then be usable (a QoS 1 round trip) or
 * cleanly failed (connect() works again; an ended session reports its
 * end and closes).  The debug tier runs kmemleak after the suite; here
 * the "MQTT" slab must come back to its baseline.
 *
 * failslab and fail_page_alloc ignore sleeping allocations by default,
 * which are all the ones under test: the tests turn ignore-gfp-wait off
 * (and verbose off, so that no stack trace reaches the log) and restore
 * the settings afterwards.
 *
 * Hostile brokers (any kernel): a PUBLISH announcing the largest
 * Remaining Length (ff ff ff 7f) ends the session with EPROTO before any
 * allocation for it; a broker streaming PUBLISHes to a client that does
 * not read is stopped by TCP once the client's receive budget is used:
 * the bytes the broker gets rid of are bounded by SO_RCVBUF plus one
 * message plus the TCP buffers of both ends, and MemAvailable does not
 * fall by more than that.
 */

#define _GNU_SOURCE

#include <sys/mount.h>
#include <sys/stat.h>

#include "peer.h"
#include "autobroker.h"

#define FAULT_MAX_N	3000
#define DBG		"/sys/kernel/debug"

/* ---------------------------------------------------------------------- */
/* fail-nth                                                                */
/* ---------------------------------------------------------------------- */

struct knob {
	const char *path;
	const char *want;
	char old[32];
	bool saved;
};

static struct knob knobs[] = {
	{ .path = DBG "/failslab/ignore-gfp-wait", .want = "N" },
	{ .path = DBG "/failslab/verbose", .want = "0" },
	{ .path = DBG "/fail_page_alloc/ignore-gfp-wait", .want = "N" },
	{ .path = DBG "/fail_page_alloc/verbose", .want = "0" },
	/* User pages (GFP_HIGHUSER) stay untouched: a page fault that
	 * fails would kill the test, not test the module.
	 */
	{ .path = DBG "/fail_page_alloc/ignore-gfp-highmem", .want = "Y" },
	{ .path = DBG "/fail_page_alloc/min-order", .want = "0" },
	{ .path = DBG "/fail_usercopy/verbose", .want = "0" },
};

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = errno;
	close(fd);
	return ret;
}

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void knobs_restore(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		if (knobs[i].saved)
			write_str(knobs[i].path, knobs[i].old);
}

/* Why fault injection is unavailable, or NULL when it is set up. */
static const char *fault_prepare(void)
{
	size_t i;

	if (access("/proc/thread-self/fail-nth", F_OK))
		return "no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION off)";
	if (access(DBG "/failslab", F_OK))
		mount("debugfs", DBG, "debugfs", 0, NULL);
	if (access(DBG "/failslab", F_OK))
		return "no " DBG "/failslab (CONFIG_FAILSLAB or "
		       "CONFIG_FAULT_INJECTION_DEBUG_FS off)";
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		if (read_str(knobs[i].path, knobs[i].old, sizeof(knobs[i].old)))
			continue;	/* absent: that fault type is off */
		knobs[i].saved = true;
		if (write_str(knobs[i].path, knobs[i].want))
			return "cannot configure failslab";
	}
	return NULL;
}

static int nth_fd = -1;

static void nth_arm(int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	if (nth_fd < 0)
		nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (pwrite(nth_fd, buf, len, 0) != len)
		abort();
}

/* Disarm; true if the n-th allocation was reached (and failed). */
static bool nth_disarm(void)
{
	char buf[16] = "";
	bool hit;

	if (pread(nth_fd, buf, sizeof(buf) - 1, 0) <= 0)
		abort();
	hit = atoi(buf) == 0;
	nth_arm(0);
	return hit;
}

/* Errnos an allocation failure may surface as. */
static bool fault_errno_ok(int err)
{
	switch (err) {
	case ENOMEM: case ENOBUFS: case EAGAIN: case ETIMEDOUT:
	case ECONNRESET: case ECONNREFUSED: case EPIPE: case EFAULT:
	case EINPROGRESS: case EPROTO:
		return true;
	}
	return false;
}

/* A QoS 1 round trip with the auto broker: the session works. */
static int round_trip(int fd)
{
	int qos = 1, val;
	int64_t dl = now_ms() + PEER_TIMEOUT_MS;
	struct pub o = { .topic = "f/rt", .topic_len = 4, .qos = 1,
			 .retain = NO_CMSG };
	socklen_t len;
	ssize_t n;

	(void)qos;
	n = mqtt_send(fd, &o, "rt", 2, MSG_NOSIGNAL);
	if (n != 2)
		return n < 0 ? -n : EIO;
	do {
		len = sizeof(val);
		if (getsockopt(fd, SOL_MQTT, MQTT_INFLIGHT, &val, &len))
			return errno;
		if (!val)
			return 0;
		usleep(2000);
	} while (now_ms() < dl);
	return ETIMEDOUT;
}

/* The session ended: it says so, and closes. */
static bool session_ended(int fd)
{
	struct pollfd pfd = { .fd = fd };

	return poll(&pfd, 1, PEER_TIMEOUT_MS) == 1 &&
	       (pfd.revents & POLLHUP);
}

FIXTURE(fault) {
	struct autobroker *ab;
	long slab_base;
	const char *skip;
};

FIXTURE_SETUP(fault)
{
	self->ab = NULL;
	self->skip = fault_prepare();
	if (self->skip)
		SKIP(return, "%s", self->skip);
	self->ab = ab_new();
	ASSERT_NE(NULL, self->ab);
	ASSERT_EQ(0, ab_start(self->ab, false));
	self->slab_base = slab_active("MQTT");
}

FIXTURE_TEARDOWN(fault)
{
	if (nth_fd >= 0)
		nth_arm(0);
	knobs_restore();
	if (self->ab) {
		ab_stop(self->ab);
		ab_free(self->ab);
	}
}

/* After a fault loop: the module's sockets all went. */
static void expect_slab_back(struct __test_metadata *_metadata, long base)
{
	int64_t dl = now_ms() + 10000;
	long now;

	if (base < 0)
		return;
	do {
		now = slab_active("MQTT");
		if (now <= base + 32)
			return;
		usleep(100000);
	} while (now_ms() < dl);
	EXPECT_GE(base + 32, now) TH_LOG("MQTT slab %ld, base %ld", now, base);
}

static int new_socket(struct __test_metadata *_metadata)
{
	int fd = mqtt_socket(_metadata, SOCK_SEQPACKET);

	set_int(_metadata, fd, MQTT_KEEPALIVE, 0);
	set_int(_metadata, fd, MQTT_CONNECT_TIMEOUT, 3000);
	set_int(_metadata, fd, MQTT_ACK_TIMEOUT, 3000);
	set_str(_metadata, fd, MQTT_CLIENT_ID, "fault", 5);
	set_str(_metadata, fd, MQTT_USERNAME, "user", 4);
	set_str(_metadata, fd, MQTT_PASSWORD, "secret", 6);
	set_str(_metadata, fd, MQTT_WILL_TOPIC, "f/will", 6);
	set_str(_metadata, fd, MQTT_WILL_MESSAGE, "bye", 3);
	return fd;
}

/* A connected socket, made without faults. */
static int new_session(struct __test_metadata *_metadata,
		       struct autobroker *ab)
{
	int fd = new_socket(_metadata);

	ASSERT_EQ(0, connect_in(fd, &ab->addr)) TH_LOG("connect");
	return fd;
}

/* Run one loop: returns the n that completed, logs the outcomes. */
#define FAULT_LOOP(name, setup, call, check)				\
	do {								\
		int n_, hits_ = 0, fails_ = 0, ok_ = 0;			\
		for (n_ = 1; n_ <= FAULT_MAX_N; n_++) {			\
			int fd, ret, err;				\
			bool hit;					\
			fd = (setup);					\
			nth_arm(n_);					\
			ret = (call);					\
			err = ret < 0 ? errno : 0;			\
			hit = nth_disarm();				\
			if (!hit) {					\
				EXPECT_LE(0, ret) TH_LOG("%s without "	\
					"fault: %s", name,		\
					strerror(err));			\
				check;					\
				close(fd);				\
				break;					\
			}						\
			hits_++;					\
			if (ret < 0) {					\
				fails_++;				\
				EXPECT_TRUE(fault_errno_ok(err))	\
					TH_LOG("%s, allocation %d "	\
					       "failed: %s", name, n_,	\
					       strerror(err));		\
			} else {					\
				ok_++;					\
			}						\
			check;						\
			close(fd);					\
		}							\
		TH_LOG("%s: %d allocations failed in turn: %d calls "	\
		       "failed, %d succeeded", name, hits_, fails_, ok_);\
		EXPECT_GT(FAULT_MAX_N, n_);				\
		EXPECT_LT(0, hits_);					\
	} while (0)

/* After connect(): usable, or unconnected and able to connect again. */
static void check_connect(struct __test_metadata *_metadata,
			  struct autobroker *ab, int fd, int ret, int err)
{
	if (ret == 0) {
		int rt = round_trip(fd);

		EXPECT_TRUE(!rt || session_ended(fd))
			TH_LOG("connected, then: %s", strerror(rt));
		return;
	}
	if (err == EINPROGRESS) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		EXPECT_EQ(1, poll(&pfd, 1, PEER_TIMEOUT_MS));
		if (so_error(_metadata, fd))
			return;
		EXPECT_EQ(0, round_trip(fd));
		return;
	}
	/* Cleanly failed: unconnected, options kept, connects again. */
	EXPECT_EQ(0, connect_in(fd, &ab->addr))
		TH_LOG("reconnect after %s", strerror(err));
	EXPECT_EQ(0, round_trip(fd));
}

TEST_F_TIMEOUT(fault, connect_each_allocation_fails, 300)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	FAULT_LOOP("connect", new_socket(_metadata),
		   connect(fd, (struct sockaddr *)&self->ab->addr,
			   sizeof(self->ab->addr)),
		   check_connect(_metadata, self->ab, fd, ret, err));
	expect_slab_back(_metadata, self->slab_base);
}

static void check_session(struct __test_metadata *_metadata, int fd, int ret)
{
	int rt = round_trip(fd);

	(void)ret;
	EXPECT_TRUE(!rt || session_ended(fd))
		TH_LOG("after the call: %s", strerror(rt));
}

static ssize_t publish_big(int fd, size_t len, int qos)
{
	static uint8_t payload[256 * 1024];
	struct pub o = { .topic = "f/pub", .topic_len = 5, .qos = qos,
			 .retain = NO_CMSG };
	ssize_t n;

	fill_pattern(payload, len);
	n = mqtt_send(fd, &o, payload, len, MSG_NOSIGNAL);
	if (n < 0) {
		errno = -n;
		return -1;
	}
	return n;
}

TEST_F_TIMEOUT(fault, publish_each_allocation_fails, 300)
{
	int sndbuf = 1 << 20;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	FAULT_LOOP("publish QoS 1", new_session(_metadata, self->ab),
		   publish_big(fd, 100, 1),
		   check_session(_metadata, fd, ret));
	FAULT_LOOP("publish QoS 2, 200 KiB",
		   ({ int s_ = new_session(_metadata, self->ab);
		      setsockopt(s_, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				 sizeof(sndbuf)); s_; }),
		   publish_big(fd, 200 * 1024, 2),
		   check_session(_metadata, fd, ret));
	expect_slab_back(_metadata, self->slab_base);
}

static int subscribe(int fd)
{
	struct sub_buf b;
	socklen_t len = sub_fill(&b, 1, "f/sub/#", 7);

	return setsockopt(fd, SOL_MQTT, MQTT_SUBSCRIBE, &b, len);
}

TEST_F_TIMEOUT(fault, subscribe_each_allocation_fails, 300)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	FAULT_LOOP("subscribe", new_session(_metadata, self->ab),
		   subscribe(fd), check_session(_metadata, fd, ret));
	expect_slab_back(_metadata, self->slab_base);
}

/*
 * The broker sends two PUBLISHes (QoS 1 and QoS 2) with the CONNACK: the
 * connect() that waits for the CONNACK receives, queues and acknowledges
 * them, so every allocation of the receive path happens in the caller.
 */
static void check_received(struct __test_metadata *_metadata, int fd, int ret)
{
	char buf[16];
	int got = 0, i;

	if (ret < 0) {
		/* Failed before the session: it can connect again. */
		return;
	}
	for (i = 0; i < 2; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, PEER_TIMEOUT_MS) != 1)
			break;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		got++;
	}
	/* Both arrived, or the session ended and says why. */
	if (got < 2) {
		EXPECT_TRUE(session_ended(fd)) TH_LOG("%d of 2 received", got);
	}
}

TEST_F_TIMEOUT(fault, receive_each_allocation_fails, 300)
{
	static const uint8_t greet[] = {
		PUBLISH | PUB_QOS(1), 0x07, 0x00, 0x03, 'f', '/', 'r',
		ID_BYTES(1), 'A',
		PUBLISH | PUB_QOS(2), 0x07, 0x00, 0x03, 'f', '/', 'r',
		ID_BYTES(2), 'B',
	};

	if (self->skip)
		SKIP(return, "%s", self->skip);
	memcpy(self->ab->greet, greet, sizeof(greet));
	self->ab->greet_len = sizeof(greet);
	FAULT_LOOP("connect receiving", new_socket(_metadata),
		   connect(fd, (struct sockaddr *)&self->ab->addr,
			   sizeof(self->ab->addr)),
		   check_received(_metadata, fd, ret));
	expect_slab_back(_metadata, self->slab_base);
}

/* ---------------------------------------------------------------------- */
/* Hostile brokers                                                         */
/* ---------------------------------------------------------------------- */

/* ff ff ff 7f: 256 MiB announced, above MQTT_RECV_MAX: EPROTO at once. */
TEST(huge_remaining_length_eproto_without_allocating)
{
	static const uint8_t hdr[] = { PUBLISH, 0xff, 0xff, 0xff, 0x7f,
				       0x00 };
	long avail = meminfo_kb("MemAvailable");
	struct sess s;

	sess_up(_metadata, &s, AF_INET);
	set_nonblock(_metadata, s.fd);
	ASSERT_EQ((ssize_t)sizeof(hdr), send(s.p.pfd, hdr, sizeof(hdr),
						 MSG_NOSIGNAL));
	wait_session_end(_metadata, s.fd);
	EXPECT_EQ(EPROTO, so_error(_metadata, s.fd));
	EXPECT_TRUE(peer_closed(&s.p));
	/* Nothing near 256 MiB was taken, even for a moment. */
	if (avail > 0)
		EXPECT_GT(64 * 1024, avail - meminfo_kb("MemAvailable"));
	sess_fini(&s);
}

/*
 * The same announcement with MQTT_RECV_MAX at its largest is a PUBLISH
 * the client agreed to take, but the broker then sends nothing more: the
 * session must stay closable at once.
 */
TEST(huge_announced_publish_then_silence_closes)
{
	static const uint8_t hdr[] = { PUBLISH, 0xff, 0xff, 0xff, 0x7f, 0x00,
				       0x01, 'x' };
	struct sess s;
	int64_t start;

	sess_up(_metadata, &s, AF_INET);
	set_nonblock(_metadata, s.fd);
	set_int(_metadata, s.fd, MQTT_RECV_MAX, 268435455);
	ASSERT_EQ((ssize_t)sizeof(hdr), send(s.p.pfd, hdr, sizeof(hdr),
						 MSG_NOSIGNAL));
	EXPECT_EQ(0, poll_fd(_metadata, s.fd, POLLIN, QUIET_MS));
	start = now_ms();
	close(s.fd);
	EXPECT_GT(start + 2000, now_ms());
	EXPECT_TRUE(peer_closed(&s.p));
	peer_close(&s.p);
}

#define FLOOD_MSG	(16 * 1024)
#define FLOOD_CAP	(256L << 20)

static long sysctl_long(const char *path, int field)
{
	long v[3] = { -1, -1, -1 };
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld %ld", &v[0], &v[1], &v[2]) < 1)
		v[0] = -1;
	fclose(f);
	return v[field];
}

/*
 * A broker streams PUBLISHes to a client that never reads.  What it gets
 * rid of is bounded by: the client's SO_RCVBUF budget plus one message,
 * the inner TCP socket's receive buffer (at most tcp_rmem[2]), and the
 * broker's own send buffer (fixed here); past that its send blocks.
 * MemAvailable falls by no more than that bound either.
 */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

TEST_F_TIMEOUT(slow, stream_to_non_reader_bounded, 120)
{
	static uint8_t pkt[FLOOD_MSG];
	int rcvbuf = 64 * 1024, sndbuf = 64 * 1024;
	long sent = 0, bound, rmem_max, avail0, avail1, got_rcvbuf, got_sndbuf;
	socklen_t len = sizeof(int);
	struct sess s;
	size_t n, off = 0;
	int v;

	sess_up(_metadata, &s, AF_INET);
	set_nonblock(_metadata, s.fd);
	ASSERT_EQ(0, setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				sizeof(rcvbuf)));
	ASSERT_EQ(0, setsockopt(s.p.pfd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				sizeof(sndbuf)));
	ASSERT_EQ(0, getsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &v, &len));
	got_rcvbuf = v;
	len = sizeof(int);
	ASSERT_EQ(0, getsockopt(s.p.pfd, SOL_SOCKET, SO_SNDBUF, &v, &len));
	got_sndbuf = v;
	rmem_max = sysctl_long("/proc/sys/net/ipv4/tcp_rmem", 2);
	ASSERT_LT(0, rmem_max);

	pkt[0] = PUBLISH;
	n = 1 + put_varint(pkt + 1, FLOOD_MSG - 4);
	/* FLOOD_MSG - 4 needs 2 varint bytes: header 3, topic 2 + 3. */
	ASSERT_EQ(3u, n);
	pkt[3] = 0;
	pkt[4] = 3;
	memcpy(pkt + 5, "f/f", 3);
	fill_pattern(pkt + 8, sizeof(pkt) - 8);
	/* The last byte of the frame: FLOOD_MSG - 4 + 3 = FLOOD_MSG - 1. */

	avail0 = meminfo_kb("MemAvailable");
	for (;;) {
		ssize_t w;

		ASSERT_GT(FLOOD_CAP, sent)
			TH_LOG("%ld bytes taken from a broker and still no "
			       "back-pressure", sent);
		w = send(s.p.pfd, pkt + off, FLOOD_MSG - 1 - off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			ASSERT_EQ(EAGAIN, errno) TH_LOG("broker send: %s",
							 strerror(errno));
			if (!(poll_fd(_metadata, s.p.pfd, POLLOUT, 1000) &
			      POLLOUT))
				break;
			continue;
		}
		sent += w;
		off += w;
		if (off == FLOOD_MSG - 1)
			off = 0;
	}
	avail1 = meminfo_kb("MemAvailable");
	bound = got_rcvbuf + FLOOD_MSG + rmem_max + got_sndbuf;
	TH_LOG("broker blocked after %ld bytes (%ld messages); bound %ld "
	       "(SO_RCVBUF %ld, tcp_rmem max %ld, broker SO_SNDBUF %ld); "
	       "MemAvailable fell %ld kB", sent, sent / (FLOOD_MSG - 1),
	       bound, got_rcvbuf, rmem_max, got_sndbuf, avail0 - avail1);
	EXPECT_GE(bound, sent);
	if (avail0 > 0 && avail1 > 0)
		EXPECT_GE(bound / 1024 + 16 * 1024, avail0 - avail1);
	/* The session is alive and delivers in order once read. */
	EXPECT_EQ(0, so_error(_metadata, s.fd));
	sess_fini(&s);
}

TEST_HARNESS_MAIN
