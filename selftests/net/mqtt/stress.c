// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT races, lifetimes and limits.
 *
 * - close() and shutdown() from another thread while a call blocks in
 *   connect() (blocking and non-blocking), in the SUBSCRIBE wait and in a
 *   send() waiting for the QoS 1 window.  On Linux close() does not
 *   interrupt a call blocked on the same file (the call holds a file
 *   reference): the call must still end within its own bounds, and the
 *   socket is released when it does.  shutdown() must wake a sender.
 * - a storm of signals during every blocking call, with and without
 *   SA_RESTART: every call ends (EINTR, or restarted), none is lost.
 * - a send() waiting for the window while another thread replaces the
 *   default topic: the PUBLISH carries the old or the new topic, intact.
 * - threads hammering one socket with setsockopt, send, recv and
 *   getsockopt while another closes it.
 * - 1,000 non-blocking connects under one epoll loop.
 * - 10,000 connect/close cycles: the "MQTT" slab and TCP sockets return
 *   to their baseline.
 * - the broker process killed mid-session.
 * - the network namespace of a live session left and dropped.
 * - rmmod refused while a socket exists, clean after (the module is
 *   loaded again from MQTT_MODULE or the VM runner's copy).
 *
 * The broker is the in-process "auto broker" of autobroker.h (a thread,
 * or a child process where it must die or where the test's file
 * descriptors must not be reused), or the scripted peer of peer.h; the
 * blocking calls run in peer.h's helper thread (struct async).
 * Every wait is bounded.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "peer.h"
#include "autobroker.h"

/* The connect/close cycles; MQTT_STRESS_CYCLES overrides. */
#define CYCLES			10000
/* Sockets connecting at once under one epoll loop. */
#define EPOLL_SOCKETS		1000
/* How long the hammer threads run, and when the closer closes. */
#define HAMMER_MS		1500
/*
 * Bound on the 10,000 connect/close cycles: ~10 s under the normal
 * kernel, 100-120 s under the KASAN+lockdep kernel on an idle 2-core
 * host, and longer on a busy one.  The harness's timeout of the test
 * (480 s) is above it; both are within the debug tier's 900 s per
 * program.
 */
#define CYCLE_BUDGET_MS		420000
/* Waits for deferred frees to settle. */
#define SETTLE_MS		10000

/* Plain tests that need more than the harness' default 30 s. */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

/* ---------------------------------------------------------------------- */
/* The scripted peer's side                                                */
/* ---------------------------------------------------------------------- */

/* A session with MQTT_ACK_TIMEOUT 5 s. */
static void session_up(struct __test_metadata *_metadata, struct sess *s)
{
	sess_init(_metadata, s, AF_INET);
	set_int(_metadata, s->fd, MQTT_ACK_TIMEOUT, 5000);
	sess_connect(_metadata, s);
}

/* Fill a window of 1 with a QoS 1 PUBLISH the peer reads: its id. */
static uint16_t fill_window(struct __test_metadata *_metadata,
			    struct peer *p, int fd)
{
	uint16_t id;

	set_int(_metadata, fd, MQTT_INFLIGHT_MAX, 1);
	set_int(_metadata, fd, MQTT_PUBLISH_QOS, 1);
	set_str(_metadata, fd, MQTT_PUBLISH_TOPIC, "w", 1);
	ASSERT_EQ(1, send(fd, "x", 1, MSG_NOSIGNAL));
	id = peer_publish(_metadata, p, PUBLISH | PUB_QOS(1));
	ASSERT_LT(5, (int)p->pkt_len);
	return id;
}

/*
 * connect() of a new socket (MQTT_CONNECT_TIMEOUT timeout_ms, 0: the
 * test default) blocking in the helper thread; the peer has read the
 * CONNECT and not answered.
 */
static void connect_in_thread(struct __test_metadata *_metadata,
			      struct async *a, struct peer *p, int timeout_ms)
{
	ASSERT_EQ(0, peer_listen(p, AF_INET));
	a->fn = do_connect;
	a->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	if (timeout_ms)
		set_int(_metadata, a->fd, MQTT_CONNECT_TIMEOUT, timeout_ms);
	a->buf = &p->addr;
	a->len = p->alen;
	async_start(_metadata, a);
	ASSERT_EQ(0, peer_handshake(p, false));
}

/* A SUBSCRIBE of "bg/sub" at QoS 1 in the helper thread. */
static void async_subscribe(struct __test_metadata *_metadata,
			    struct async *a, struct sub_buf *sb, int fd)
{
	socklen_t len = sub_fill(sb, 1, "bg/sub", 6);

	async_setsockopt(_metadata, a, fd, MQTT_SUBSCRIBE, sb, len);
}

/* ---------------------------------------------------------------------- */
/* close() and shutdown() while another thread is blocked                  */
/* ---------------------------------------------------------------------- */

/*
 * close() during a blocking connect: the call goes on (it holds the
 * file); the CONNACK completes it, and the socket is released as it
 * returns, saying DISCONNECT.
 */
TEST(close_during_blocking_connect_then_connack)
{
	struct async b = { };
	struct peer p;
	ssize_t n;

	connect_in_thread(_metadata, &b, &p, 0);
	ASSERT_EQ(0, close(b.fd));
	EXPECT_FALSE(async_done(&b, QUIET_MS))
		TH_LOG("connect returned %zd: %s", b.ret, strerror(b.err));
	ASSERT_EQ(0, peer_connack(&p, 0, 0));
	ASSERT_TRUE(async_done(&b, PEER_TIMEOUT_MS));
	EXPECT_EQ(0, b.ret) TH_LOG("connect: %s", strerror(b.err));
	/* The release follows the call: DISCONNECT, then FIN. */
	n = peer_pkt(&p, PEER_TIMEOUT_MS);
	EXPECT_EQ(2, n);
	EXPECT_EQ(DISCONNECT, p.pkt[0]);
	EXPECT_TRUE(peer_closed(&p));
	peer_close(&p);
}

/* close() during a blocking connect to a silent peer: ETIMEDOUT. */
TEST(close_during_blocking_connect_times_out)
{
	struct async b = { };
	struct peer p;

	connect_in_thread(_metadata, &b, &p, 1000);
	ASSERT_EQ(0, close(b.fd));
	ASSERT_TRUE(async_done(&b, 1000 + LATE_SLACK_MS + 1000))
		TH_LOG("connect outlived MQTT_CONNECT_TIMEOUT after close");
	EXPECT_EQ(-1, b.ret);
	EXPECT_EQ(ETIMEDOUT, b.err) TH_LOG("connect: %s", strerror(b.err));
	EXPECT_TRUE(peer_closed(&p));
	peer_close(&p);
}

/* shutdown() during a blocking connect: ENOTCONN, the connect goes on. */
TEST(shutdown_during_blocking_connect)
{
	struct async b = { };
	struct peer p;
	int64_t start;

	connect_in_thread(_metadata, &b, &p, 0);
	start = now_ms();
	EXPECT_EQ(-1, shutdown(b.fd, SHUT_RDWR));
	EXPECT_EQ(ENOTCONN, errno);
	EXPECT_GT(start + 1000, now_ms()) TH_LOG("shutdown blocked");
	ASSERT_EQ(0, peer_connack(&p, 0, 0));
	ASSERT_TRUE(async_done(&b, PEER_TIMEOUT_MS));
	EXPECT_EQ(0, b.ret) TH_LOG("connect: %s", strerror(b.err));
	close(b.fd);
	EXPECT_TRUE(peer_closed(&p));
	peer_close(&p);
}

/* close() while another thread waits in epoll for a non-blocking connect. */
TEST(close_during_nonblocking_connect_in_epoll)
{
	struct epoll_event ev = { .events = EPOLLOUT }, out;
	struct peer p;
	int fd, ep;

	ASSERT_EQ(0, peer_listen(&p, AF_INET));
	fd = mqtt_socket(_metadata, SOCK_SEQPACKET | SOCK_NONBLOCK);
	ep = epoll_create1(0);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	ASSERT_EQ(EINPROGRESS, peer_connect(fd, &p));
	ASSERT_EQ(0, peer_handshake(&p, false));
	ASSERT_EQ(0, epoll_wait(ep, &out, 1, 50));
	ASSERT_EQ(0, close(fd));
	/* The file is gone: epoll forgets it, the peer sees TCP close. */
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, QUIET_MS));
	EXPECT_TRUE(peer_closed(&p));
	close(ep);
	peer_close(&p);
}

/* close() during the SUBSCRIBE wait: the wait ends by SUBACK or timeout. */
TEST(close_during_subscribe_wait)
{
	struct async b = { };
	struct sub_buf sb;
	struct sess s;
	ssize_t n;

	session_up(_metadata, &s);
	b.fd = s.fd;
	set_int(_metadata, b.fd, MQTT_ACK_TIMEOUT, 1000);
	async_subscribe(_metadata, &b, &sb, b.fd);
	n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
	ASSERT_LT(4, n);
	ASSERT_EQ(SUBSCRIBE, s.p.pkt[0]);
	ASSERT_EQ(0, close(b.fd));
	ASSERT_TRUE(async_done(&b, 1000 + LATE_SLACK_MS + 1000));
	EXPECT_EQ(ETIMEDOUT, b.err);
	n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
	EXPECT_EQ(2, n);
	EXPECT_EQ(DISCONNECT, s.p.pkt[0]);
	EXPECT_TRUE(peer_closed(&s.p));
	peer_close(&s.p);
}

/* shutdown() during the SUBSCRIBE wait, then the broker closes. */
TEST(shutdown_during_subscribe_wait)
{
	struct async b = { };
	struct sub_buf sb;
	struct sess s;
	ssize_t n;

	session_up(_metadata, &s);
	b.fd = s.fd;
	async_subscribe(_metadata, &b, &sb, b.fd);
	n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
	ASSERT_EQ(SUBSCRIBE, s.p.pkt[0]);
	ASSERT_EQ(0, shutdown(b.fd, SHUT_RDWR));
	n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
	EXPECT_EQ(2, n);
	EXPECT_EQ(DISCONNECT, s.p.pkt[0]);
	/* The broker closes without SUBACK: the wait must end now. */
	close(s.p.pfd);
	s.p.pfd = -1;
	ASSERT_TRUE(async_done(&b, 2000))
		TH_LOG("SUBSCRIBE outlived the session");
	EXPECT_EQ(-1, b.ret);
	TH_LOG("SUBSCRIBE after shutdown and broker close: %s",
	       strerror(b.err));
	close(b.fd);
	peer_close(&s.p);
}

/* close() during a send blocked on the window: the ack completes it. */
TEST(close_during_blocked_send)
{
	struct async b = { .fn = do_send, .buf = "x", .len = 1,
			   .flags = MSG_NOSIGNAL };
	struct sess s;
	uint16_t id;
	ssize_t n;

	session_up(_metadata, &s);
	b.fd = s.fd;
	id = fill_window(_metadata, &s.p, b.fd);
	async_start(_metadata, &b);
	EXPECT_FALSE(async_done(&b, QUIET_MS)) TH_LOG("send did not wait");
	ASSERT_EQ(0, close(b.fd));
	EXPECT_FALSE(async_done(&b, QUIET_MS));
	PEER_SEND(&s.p, PUBACK, 0x02, ID_BYTES(id));
	ASSERT_TRUE(async_done(&b, PEER_TIMEOUT_MS));
	EXPECT_EQ(1, b.ret) TH_LOG("send: %s", strerror(b.err));
	/* The PUBLISH, then DISCONNECT at release. */
	n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
	EXPECT_LT(0, n);
	EXPECT_EQ(PUBLISH | PUB_QOS(1), s.p.pkt[0]);
	n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
	EXPECT_EQ(2, n);
	EXPECT_EQ(DISCONNECT, s.p.pkt[0]);
	EXPECT_TRUE(peer_closed(&s.p));
	peer_close(&s.p);
}

/* shutdown() wakes a send blocked on the window: EPIPE at once. */
TEST(shutdown_wakes_blocked_send)
{
	struct async b = { .fn = do_send, .buf = "x", .len = 1,
			   .flags = MSG_NOSIGNAL };
	struct sess s;
	int64_t start;

	session_up(_metadata, &s);
	b.fd = s.fd;
	fill_window(_metadata, &s.p, b.fd);
	async_start(_metadata, &b);
	EXPECT_FALSE(async_done(&b, QUIET_MS));
	start = now_ms();
	ASSERT_EQ(0, shutdown(b.fd, SHUT_RDWR));
	ASSERT_TRUE(async_done(&b, 2000)) TH_LOG("send not woken by shutdown");
	EXPECT_EQ(EPIPE, b.err) TH_LOG("send: %zd %s", b.ret, strerror(b.err));
	TH_LOG("send returned %lld ms after shutdown",
	       (long long)(b.end - start));
	close(b.fd);
	peer_close(&s.p);
}

/* shutdown(SHUT_RD) wakes a blocked recv: 0. */
TEST(shutdown_wakes_blocked_recv)
{
	struct async b = { .fn = do_recv };
	struct sess s;

	session_up(_metadata, &s);
	b.fd = s.fd;
	async_start(_metadata, &b);
	EXPECT_FALSE(async_done(&b, QUIET_MS));
	ASSERT_EQ(0, shutdown(b.fd, SHUT_RD));
	ASSERT_TRUE(async_done(&b, 2000)) TH_LOG("recv not woken by shutdown");
	EXPECT_EQ(0, b.ret) TH_LOG("recv: %s", strerror(b.err));
	close(b.fd);
	peer_close(&s.p);
}

/* ---------------------------------------------------------------------- */
/* Signals during every blocking call                                      */
/* ---------------------------------------------------------------------- */

/* Keep calling while EINTR; count the interruptions. */
#define RETRY_EINTR(ret, call, eintrs) do {				\
	int64_t dl_ = now_ms() + PEER_TIMEOUT_MS;			\
	while (((ret) = (call)) < 0 && errno == EINTR &&		\
	       now_ms() < dl_)						\
		(eintrs)++;						\
} while (0)

/*
 * Each blocking call waits for a broker that answers 100 ms late while
 * signals arrive every 10 ms.  Without SA_RESTART every call must fail
 * EINTR and succeed when called again; with it, send() and recv() are
 * restarted, connect() reports EALREADY, and the bounded SUBSCRIBE wait
 * still fails EINTR.  Nothing is lost: the session ends healthy.
 */
static void signal_storm(struct __test_metadata *_metadata, bool restart)
{
	struct sigaction sa = { .sa_handler = count_signal,
				.sa_flags = restart ? SA_RESTART : 0 };
	static const struct itimerval off;
	struct autobroker *ab = ab_new();
	int eintr_connect = 0, eintr_send = 0, eintr_sub = 0, eintr_recv = 0;
	int total = 0;
	struct sub_buf sb;
	socklen_t len;
	char buf[16];
	int fd, ret, err;

	ASSERT_NE(NULL, ab);
	ab->echo = true;
	ab->delay_ms = 100;
	ASSERT_EQ(0, ab_start(ab, false));
	fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	set_int(_metadata, fd, MQTT_KEEPALIVE, 0);
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));

	/* connect: EINTR (or restarted: EALREADY), then completes. */
	signals_caught = 0;
	signal_ticks(10, 20);
	ret = connect(fd, (struct sockaddr *)&ab->addr, sizeof(ab->addr));
	err = ret ? errno : 0;
	if (err == EINTR)
		eintr_connect++;
	if (err == EINTR || err == EALREADY) {
		int64_t dl = now_ms() + PEER_TIMEOUT_MS;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		while (now_ms() < dl && (poll(&pfd, 1, 100) != 1 ||
					 !(pfd.revents & POLLOUT)))
			;
		err = so_error(_metadata, fd);
	}
	EXPECT_EQ(0, err) TH_LOG("connect: %s", strerror(err));
	total += signals_caught;

	/* SUBSCRIBE: EINTR even with SA_RESTART (a bounded wait). */
	signals_caught = 0;
	signal_ticks(10, 20);
	len = sub_fill(&sb, 0, "sig", 3);
	RETRY_EINTR(ret, setsockopt(fd, SOL_MQTT, MQTT_SUBSCRIBE, &sb, len),
		    eintr_sub);
	EXPECT_EQ(0, ret) TH_LOG("subscribe: %s", strerror(errno));
	total += signals_caught;

	/* A send waiting for the window. */
	set_int(_metadata, fd, MQTT_INFLIGHT_MAX, 1);
	set_int(_metadata, fd, MQTT_PUBLISH_QOS, 1);
	set_str(_metadata, fd, MQTT_PUBLISH_TOPIC, "sig", 3);
	ASSERT_EQ(1, send(fd, "1", 1, MSG_NOSIGNAL));
	signals_caught = 0;
	signal_ticks(10, 20);
	RETRY_EINTR(ret, send(fd, "2", 1, MSG_NOSIGNAL), eintr_send);
	EXPECT_EQ(1, ret) TH_LOG("send 2: %s", strerror(errno));
	total += signals_caught;

	/* recv waiting for the echoes (each 100 ms late). */
	signals_caught = 0;
	signal_ticks(10, 20);
	RETRY_EINTR(ret, recv(fd, buf, sizeof(buf), 0), eintr_recv);
	EXPECT_EQ(1, ret) TH_LOG("recv: %s", strerror(errno));
	RETRY_EINTR(ret, recv(fd, buf, sizeof(buf), 0), eintr_recv);
	EXPECT_EQ(1, ret) TH_LOG("recv: %s", strerror(errno));
	total += signals_caught;

	setitimer(ITIMER_REAL, &off, NULL);
	TH_LOG("%d signals; EINTR: connect %d, subscribe %d, send %d, recv %d",
	       total, eintr_connect, eintr_sub, eintr_send, eintr_recv);
	EXPECT_LT(10, total);
	if (restart) {
		EXPECT_EQ(0, eintr_connect);
		EXPECT_EQ(0, eintr_send);
		EXPECT_EQ(0, eintr_recv);
	} else {
		EXPECT_LT(0, eintr_connect);
		EXPECT_LT(0, eintr_send);
		EXPECT_LT(0, eintr_recv);
	}
	EXPECT_LT(0, eintr_sub);
	/* The session is intact: the last message gets acknowledged. */
	wait_inflight(_metadata, fd, 0);
	EXPECT_EQ(0, so_error(_metadata, fd));
	close(fd);
	ab_stop(ab);
	EXPECT_EQ(0, ab_get(&ab->errors));
	ab_free(ab);
}

TEST_F_TIMEOUT(slow, signals_during_blocking_calls_eintr, 60)
{
	signal_storm(_metadata, false);
}

TEST_F_TIMEOUT(slow, signals_during_blocking_calls_sa_restart, 60)
{
	signal_storm(_metadata, true);
}

/* ---------------------------------------------------------------------- */
/* The default topic replaced while a send waits for the window            */
/* ---------------------------------------------------------------------- */

/*
 * send() with the socket's default topic waits for the window with the
 * socket lock released; meanwhile another thread sets a new default.  The
 * PUBLISH that finally goes out must carry the old or the new topic,
 * byte for byte, never the freed old buffer.
 */
TEST(send_waiting_for_window_survives_topic_change)
{
	static const char old_topic[] =
		"stress/old/topic/long-enough-for-its-own-kmalloc-bucket/0123";
	static const char new_topic[] = "stress/new";
	struct async b = { .fn = do_send, .buf = "x", .len = 1,
			   .flags = MSG_NOSIGNAL };
	struct sess s;
	uint16_t id;
	size_t tl;
	ssize_t n;

	session_up(_metadata, &s);
	b.fd = s.fd;
	id = fill_window(_metadata, &s.p, b.fd);
	set_str(_metadata, b.fd, MQTT_PUBLISH_TOPIC, old_topic,
		strlen(old_topic));
	async_start(_metadata, &b);
	ASSERT_FALSE(async_done(&b, QUIET_MS)) TH_LOG("send did not wait");
	set_str(_metadata, b.fd, MQTT_PUBLISH_TOPIC, new_topic,
		strlen(new_topic));
	PEER_SEND(&s.p, PUBACK, 0x02, ID_BYTES(id));
	ASSERT_TRUE(async_done(&b, PEER_TIMEOUT_MS));
	ASSERT_EQ(1, b.ret) TH_LOG("send: %s", strerror(b.err));
	n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
	ASSERT_LT(4, n) TH_LOG("peer: %s", strerror(-n));
	ASSERT_EQ(PUBLISH | PUB_QOS(1), s.p.pkt[0]);
	tl = s.p.pkt[2] << 8 | s.p.pkt[3];
	if (!(tl == strlen(old_topic) &&
	      !memcmp(s.p.pkt + 4, old_topic, tl)) &&
	    !(tl == strlen(new_topic) && !memcmp(s.p.pkt + 4, new_topic, tl))) {
		log_hex(_metadata, "topic sent", s.p.pkt + 4, tl, 0);
		log_hex(_metadata, "topic sent", s.p.pkt + 4, tl, 32);
		ASSERT_TRUE(false) TH_LOG("the PUBLISH carries a topic of %zu "
					  "bytes that is neither the old nor "
					  "the new default (freed memory?)",
					  tl);
	}
	close(b.fd);
	peer_close(&s.p);
}

/* ---------------------------------------------------------------------- */
/* Threads hammering one socket while another closes it                    */
/* ---------------------------------------------------------------------- */

static const char *const hammer_topics[] = {
	"h/a", "h/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	"h/cc",
};

struct hammer {
	int fd;
	int kind;
	volatile int *stop;
	long calls, errors;
	int odd_errno;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	unsigned int seed = h->kind * 7919 + 1;
	struct timeval tv = { .tv_usec = 50000 };
	char buf[256];

	while (!__atomic_load_n(h->stop, __ATOMIC_ACQUIRE)) {
		int r = rand_r(&seed), ret = 0, val;
		socklen_t len = sizeof(val);
		const char *t;
		struct sub_buf sb;

		switch (h->kind) {
		case 0:		/* options */
			switch (r % 5) {
			case 0:
			case 1:
				t = hammer_topics[r % 3];
				ret = setsockopt(h->fd, SOL_MQTT,
						 MQTT_PUBLISH_TOPIC, t,
						 strlen(t));
				break;
			case 2:
				val = 1 + r % 4;
				ret = setsockopt(h->fd, SOL_MQTT,
						 MQTT_INFLIGHT_MAX, &val,
						 sizeof(val));
				break;
			case 3:
				val = r % 3;
				ret = setsockopt(h->fd, SOL_MQTT,
						 MQTT_PUBLISH_QOS, &val,
						 sizeof(val));
				break;
			case 4:
				val = r & 1;
				ret = setsockopt(h->fd, SOL_MQTT,
						 MQTT_DELIVERY_REPORTS, &val,
						 sizeof(val));
				break;
			}
			break;
		case 1:		/* sends with the default topic */
		case 2:
			ret = send(h->fd, buf, r % 64,
				   MSG_NOSIGNAL | (r & 1 ? MSG_DONTWAIT : 0));
			break;
		case 3:		/* receives, reports, reads of options */
			switch (r % 4) {
			case 0:
				ret = recv(h->fd, buf, sizeof(buf),
					   r & 2 ? MSG_DONTWAIT : 0);
				break;
			case 1:
				ret = recv(h->fd, buf, sizeof(buf),
					   MSG_ERRQUEUE | MSG_DONTWAIT);
				break;
			case 2:
				ret = getsockopt(h->fd, SOL_MQTT, MQTT_INFLIGHT,
						 &val, &len);
				break;
			case 3:
				len = sizeof(buf);
				ret = getsockopt(h->fd, SOL_MQTT,
						 MQTT_PUBLISH_TOPIC, buf, &len);
				break;
			}
			break;
		case 4:		/* subscriptions */
			len = sub_fill(&sb, r % 3, "h/#", 3);
			ret = setsockopt(h->fd, SOL_MQTT,
					 r & 1 ? MQTT_SUBSCRIBE :
						 MQTT_UNSUBSCRIBE,
					 r & 1 ? (void *)&sb : (void *)"h/#",
					 r & 1 ? len : 3);
			break;
		}
		h->calls++;
		if (ret < 0) {
			h->errors++;
			switch (errno) {
			case EAGAIN: case EBADF: case EPIPE: case ENOTCONN:
			case ETIMEDOUT: case EINTR: case ENOTSOCK:
			case ECONNRESET:
				break;
			default:
				h->odd_errno = errno;
			}
		}
		(void)tv;
	}
	return NULL;
}

TEST_F_TIMEOUT(slow, threads_hammer_one_socket_then_close, 60)
{
	struct autobroker *ab = ab_new();
	struct hammer h[5];
	pthread_t t[5];
	struct timeval tv = { .tv_usec = 100000 };
	volatile int stop = 0;
	long calls = 0;
	int fd, i, rep;

	ASSERT_NE(NULL, ab);
	ab->echo = true;
	ab->ntopics = 3;
	for (i = 0; i < 3; i++)
		ab->topics[i] = hammer_topics[i];
	/* A child: nothing in this process opens a file while the threads
	 * run, so the closed descriptor is not reused under them.
	 */
	ASSERT_EQ(0, ab_start(ab, true));

	for (rep = 0; rep < 2; rep++) {
		fd = mqtt_connected_to(&ab->addr, NULL);
		ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
		ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
					sizeof(tv)));
		ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
					sizeof(tv)));
		set_int(_metadata, fd, MQTT_ACK_TIMEOUT, 200);
		set_str(_metadata, fd, MQTT_PUBLISH_TOPIC, "h/a", 3);
		stop = 0;
		for (i = 0; i < 5; i++) {
			h[i] = (struct hammer){ .fd = fd, .kind = i,
						.stop = &stop };
			ASSERT_EQ(0, pthread_create(&t[i], NULL, hammer_main,
						    &h[i]));
		}
		usleep(HAMMER_MS * 1000);
		/* Close under the threads; they go on a little longer. */
		close(fd);
		usleep(200000);
		__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
		for (i = 0; i < 5; i++) {
			pthread_join(t[i], NULL);
			calls += h[i].calls;
			EXPECT_EQ(0, h[i].odd_errno)
				TH_LOG("thread %d: unexpected errno %s", i,
				       strerror(h[i].odd_errno));
		}
	}
	TH_LOG("%ld calls; broker saw %d PUBLISH, %d connections",
	       calls, ab_get(&ab->publishes), ab_get(&ab->conns));
	EXPECT_EQ(0, ab_get(&ab->bad_topics))
		TH_LOG("%d PUBLISHes with a topic never set, first: %s",
		       ab_get(&ab->bad_topics), ab->bad);
	EXPECT_EQ(0, ab_get(&ab->errors));
	EXPECT_LT(0, ab_get(&ab->publishes));

	/* The module still works. */
	fd = mqtt_connected_to(&ab->addr, NULL);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
	ab_stop(ab);
	ab_free(ab);
}

/* ---------------------------------------------------------------------- */
/* Many sockets, many cycles                                               */
/* ---------------------------------------------------------------------- */

static void raise_nofile(struct __test_metadata *_metadata, rlim_t want)
{
	struct rlimit rl;

	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl))
		TH_LOG("RLIMIT_NOFILE %lu: %s", (unsigned long)want,
		       strerror(errno));
}

TEST_F_TIMEOUT(slow, epoll_1000_nonblocking_connects, 120)
{
	struct autobroker *ab = ab_new();
	struct epoll_event ev, out[64];
	int64_t start, deadline;
	int *fds, ep, i, ready = 0, failed = 0;
	bool *seen;

	ASSERT_NE(NULL, ab);
	raise_nofile(_metadata, 4096 + 64);
	ASSERT_EQ(0, ab_start(ab, false));
	fds = calloc(EPOLL_SOCKETS, sizeof(*fds));
	seen = calloc(EPOLL_SOCKETS, sizeof(*seen));
	ASSERT_NE(NULL, fds);
	ASSERT_NE(NULL, seen);
	ep = epoll_create1(0);
	ASSERT_LE(0, ep);

	start = now_ms();
	for (i = 0; i < EPOLL_SOCKETS; i++) {
		fds[i] = mqtt_socket(_metadata, SOCK_SEQPACKET | SOCK_NONBLOCK);
		set_int(_metadata, fds[i], MQTT_KEEPALIVE, 0);
		set_int(_metadata, fds[i], MQTT_CONNECT_TIMEOUT, 60000);
		ev.events = EPOLLOUT;
		ev.data.u32 = i;
		ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev));
		ASSERT_EQ(EINPROGRESS, connect_in(fds[i], &ab->addr))
			TH_LOG("socket %d", i);
	}
	deadline = now_ms() + 90000;
	while (ready + failed < EPOLL_SOCKETS && now_ms() < deadline) {
		int n = epoll_wait(ep, out, 64, 1000);

		ASSERT_LE(0, n);
		for (i = 0; i < n; i++) {
			int k = out[i].data.u32;

			if (seen[k])
				continue;
			seen[k] = true;
			if (out[i].events & (EPOLLERR | EPOLLHUP)) {
				if (!failed)
					TH_LOG("socket %d: events %#x, %s", k,
					       out[i].events,
					       strerror(so_error(_metadata,
								 fds[k])));
				failed++;
			} else {
				ready++;
			}
			ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_DEL, fds[k], NULL));
		}
	}
	TH_LOG("%d connected, %d failed in %lld ms", ready, failed,
	       (long long)(now_ms() - start));
	EXPECT_EQ(EPOLL_SOCKETS, ready);
	EXPECT_EQ(EPOLL_SOCKETS, ab_get(&ab->connects));
	for (i = 0; i < EPOLL_SOCKETS; i++)
		close(fds[i]);
	/* Every close says DISCONNECT. */
	deadline = now_ms() + 30000;
	while (ab_get(&ab->disconnects) < EPOLL_SOCKETS && now_ms() < deadline)
		usleep(10000);
	EXPECT_EQ(EPOLL_SOCKETS, ab_get(&ab->disconnects));
	close(ep);
	free(fds);
	free(seen);
	ab_stop(ab);
	ab_free(ab);
}

/* Baselines of what a leak would grow. */
struct usage {
	long mqtt, tcp_inuse, tcp_orphan, sockets;
};

static void usage_read(struct usage *u)
{
	u->mqtt = slab_active("MQTT");
	u->tcp_inuse = sockstat("TCP:", "inuse");
	u->tcp_orphan = sockstat("TCP:", "orphan");
	u->sockets = sockstat("sockets:", "used");
}

/*
 * Wait until usage is back to base (within slack for the slab, whose
 * SLUB count includes objects cached per CPU): true if it is.
 */
static bool usage_settled(const struct usage *base, struct usage *now,
			  long slab_slack)
{
	int64_t deadline = now_ms() + SETTLE_MS;

	for (;;) {
		usage_read(now);
		if ((base->mqtt < 0 || now->mqtt <= base->mqtt + slab_slack) &&
		    now->tcp_inuse <= base->tcp_inuse &&
		    now->tcp_orphan <= base->tcp_orphan &&
		    now->sockets <= base->sockets)
			return true;
		if (now_ms() > deadline)
			return false;
		usleep(50000);
	}
}

/* Threads sharing the cycles: the VM has two CPUs. */
#define CYCLE_THREADS	4

struct cycler {
	const struct sockaddr_in *addr;
	int n, done, failures, first_err;
	int64_t deadline;
	pthread_t thread;
};

static void *cycler_main(void *arg)
{
	struct cycler *c = arg;

	for (; c->done < c->n && now_ms() < c->deadline; c->done++) {
		int fd = mqtt_connected_to(c->addr, "cycle");

		if (fd < 0) {
			if (!c->failures++)
				c->first_err = -fd;
			continue;
		}
		close(fd);
	}
	return NULL;
}

static int cycles(void)
{
	const char *v = getenv("MQTT_STRESS_CYCLES");

	return v && atoi(v) > 0 ? atoi(v) : CYCLES;
}

TEST_F_TIMEOUT(slow, connect_close_cycles_no_leak, 480)
{
	struct autobroker *ab = ab_new();
	struct usage base, now;
	int64_t start, deadline;
	int i, k, fd, n = cycles(), failures = 0, first_err = 0;
	struct cycler cy[CYCLE_THREADS];

	ASSERT_NE(NULL, ab);
	ASSERT_EQ(0, ab_start(ab, false));
	/* One cycle first, so the caches exist and the baseline is fair. */
	fd = mqtt_connected_to(&ab->addr, "cycle");
	ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
	close(fd);
	deadline = now_ms() + SETTLE_MS;
	while (ab_get(&ab->live) && now_ms() < deadline)
		usleep(10000);
	usleep(200000);
	usage_read(&base);
	TH_LOG("baseline: MQTT slab %ld, TCP inuse %ld orphan %ld, sockets %ld",
	       base.mqtt, base.tcp_inuse, base.tcp_orphan, base.sockets);

	start = now_ms();
	for (k = 0; k < CYCLE_THREADS; k++) {
		cy[k] = (struct cycler){ .addr = &ab->addr,
					 .n = n / CYCLE_THREADS +
					      (k < n % CYCLE_THREADS),
					 .deadline = start + CYCLE_BUDGET_MS };
		ASSERT_EQ(0, pthread_create(&cy[k].thread, NULL, cycler_main,
					    &cy[k]));
	}
	for (i = 0, k = 0; k < CYCLE_THREADS; k++) {
		pthread_join(cy[k].thread, NULL);
		i += cy[k].done;
		if (!failures && cy[k].failures)
			first_err = cy[k].first_err;
		failures += cy[k].failures;
	}
	TH_LOG("%d cycles in %d threads in %lld ms, %d failed%s%s", i,
	       CYCLE_THREADS, (long long)(now_ms() - start), failures,
	       failures ? ", first: " : "",
	       failures ? strerror(first_err) : "");
	EXPECT_EQ(n, i) TH_LOG("ran out of time");
	EXPECT_EQ(0, failures);

	/* The broker closes each connection after DISCONNECT. */
	deadline = now_ms() + SETTLE_MS;
	while (ab_get(&ab->live) && now_ms() < deadline)
		usleep(10000);
	EXPECT_EQ(0, ab_get(&ab->live));
	EXPECT_EQ(i + 1, ab_get(&ab->disconnects));
	EXPECT_TRUE(usage_settled(&base, &now, 64))
		TH_LOG("after %d cycles: MQTT slab %ld (base %ld), TCP inuse "
		       "%ld (%ld), orphan %ld (%ld), sockets %ld (%ld)", i,
		       now.mqtt, base.mqtt, now.tcp_inuse, base.tcp_inuse,
		       now.tcp_orphan, base.tcp_orphan, now.sockets,
		       base.sockets);
	TH_LOG("after: MQTT slab %ld, TCP inuse %ld orphan %ld, sockets %ld",
	       now.mqtt, now.tcp_inuse, now.tcp_orphan, now.sockets);
	if (base.mqtt < 0)
		TH_LOG("no \"MQTT\" slab cache visible: slab not checked");
	ab_stop(ab);
	ab_free(ab);
}

/* ---------------------------------------------------------------------- */
/* The broker killed mid-session                                           */
/* ---------------------------------------------------------------------- */

TEST(broker_killed_mid_session)
{
	struct autobroker *ab = ab_new();
	int outcome[5], one = 1, fd, i;
	struct usage base, now;
	char buf[16];

	ASSERT_NE(NULL, ab);
	ab->no_ack = true;
	ASSERT_EQ(0, ab_start(ab, true));
	usage_read(&base);
	fd = mqtt_connected_to(&ab->addr, "victim");
	ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
	ASSERT_EQ(0, setsockopt(fd, SOL_MQTT, MQTT_DELIVERY_REPORTS, &one,
				sizeof(one)));
	for (i = 0; i < 5; i++)
		publish(_metadata, fd, "k/q1", 1, "m", 1);
	ASSERT_EQ(5, get_int(_metadata, fd, MQTT_INFLIGHT));
	for (i = 0; i < 500 && ab_get(&ab->publishes) < 5; i++)
		usleep(10000);
	ASSERT_EQ(5, ab_get(&ab->publishes));

	ab_stop(ab);		/* SIGKILL */
	wait_session_end(_metadata, fd);
	reports_init(outcome, 5);
	wait_reports(_metadata, fd, outcome, 5);
	for (i = 0; i < 5; i++) {
		int o = outcome[i];

		EXPECT_EQ(ECONNRESET, o) TH_LOG("message %d: %s", i,
						strerror(o));
	}
	EXPECT_EQ(0, get_int(_metadata, fd, MQTT_INFLIGHT));
	EXPECT_EQ(ECONNRESET, so_error(_metadata, fd));
	set_str(_metadata, fd, MQTT_PUBLISH_TOPIC, "k/q1", 4);
	EXPECT_EQ(-1, send(fd, "x", 1, MSG_NOSIGNAL));
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(0, recv(fd, buf, sizeof(buf), MSG_DONTWAIT));
	close(fd);
	EXPECT_TRUE(usage_settled(&base, &now, 16))
		TH_LOG("MQTT slab %ld (base %ld), TCP inuse %ld (%ld)",
		       now.mqtt, base.mqtt, now.tcp_inuse, base.tcp_inuse);
	ab_free(ab);
}

/* ---------------------------------------------------------------------- */
/* A network namespace that goes away under a live socket                  */
/* ---------------------------------------------------------------------- */

static int lo_up(void)
{
	struct ifreq ifr = { };
	int s = socket(AF_INET, SOCK_DGRAM, 0), err = 0;

	if (s < 0)
		return errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr))
		err = errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(s, SIOCSIFFLAGS, &ifr))
		err = errno;
	close(s);
	return err;
}

FIXTURE(netns) {
	int orig;		/* the test's own network namespace */
	struct sess s;
};

FIXTURE_SETUP(netns)
{
	self->s.fd = -1;
	self->s.p.lfd = self->s.p.pfd = -1;
	self->orig = open("/proc/self/ns/net", O_RDONLY);
	ASSERT_LE(0, self->orig);
	if (unshare(CLONE_NEWNET))
		SKIP(return, "unshare(CLONE_NEWNET): %s", strerror(errno));
	ASSERT_EQ(0, lo_up());
	/* Peer and AF_MQTT socket live in the new namespace. */
	sess_up(_metadata, &self->s, AF_INET);
	set_nonblock(_metadata, self->s.fd);
	/* Leave it: only the sockets hold it now. */
	ASSERT_EQ(0, setns(self->orig, CLONE_NEWNET));
}

FIXTURE_TEARDOWN(netns)
{
	sess_fini(&self->s);
	close(self->orig);
}

/* The namespace's last other sockets close: the session ends, cleanly. */
TEST_F(netns, peer_gone_then_socket_used_and_closed)
{
	char buf[16];
	ssize_t n;

	if (self->s.fd < 0)
		SKIP(return, "no namespace");
	set_nonblock(_metadata, self->s.fd);
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "ns/x", 4);
	publish(_metadata, self->s.fd, "ns/x", 0, "1", 1);
	n = peer_pkt(&self->s.p, PEER_TIMEOUT_MS);
	ASSERT_LT(0, n);
	EXPECT_EQ(PUBLISH, self->s.p.pkt[0]);
	peer_close(&self->s.p);
	/* Now the AF_MQTT socket's TCP socket is all that holds it. */
	ASSERT_EQ(POLLERR | POLLHUP, poll_fd(_metadata, self->s.fd, 0,
					     PEER_TIMEOUT_MS) &
				     (POLLERR | POLLHUP));
	EXPECT_EQ(ECONNRESET, so_error(_metadata, self->s.fd));
	EXPECT_EQ(-1, send(self->s.fd, "x", 1, MSG_NOSIGNAL));
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(0, recv(self->s.fd, buf, sizeof(buf), 0));
	EXPECT_EQ(0, get_int(_metadata, self->s.fd, MQTT_INFLIGHT));
	EXPECT_EQ(0, close(self->s.fd));
	self->s.fd = -1;
}

/* The socket closes first, then the peer: the namespace dies last. */
TEST_F(netns, socket_closed_while_namespace_unreachable)
{
	ssize_t n;

	if (self->s.fd < 0)
		SKIP(return, "no namespace");
	publish(_metadata, self->s.fd, "ns/y", 1, "1", 1);
	n = peer_pkt(&self->s.p, PEER_TIMEOUT_MS);
	ASSERT_LT(0, n);
	EXPECT_EQ(PUBLISH | PUB_QOS(1), self->s.p.pkt[0]);
	EXPECT_EQ(0, close(self->s.fd));
	self->s.fd = -1;
	n = peer_pkt(&self->s.p, PEER_TIMEOUT_MS);
	EXPECT_EQ(2, n);
	EXPECT_EQ(DISCONNECT, self->s.p.pkt[0]);
	EXPECT_TRUE(peer_closed(&self->s.p));
}

/* A socket created in a namespace that is then left connects in it. */
TEST(netns_unconnected_socket_outlives_namespace)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(1),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int orig, fd, err;

	orig = open("/proc/self/ns/net", O_RDONLY);
	ASSERT_LE(0, orig);
	if (unshare(CLONE_NEWNET))
		SKIP(return, "unshare(CLONE_NEWNET): %s", strerror(errno));
	fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	ASSERT_EQ(0, setns(orig, CLONE_NEWNET));
	/* lo is down in the dead namespace. */
	err = connect_in(fd, &sin);
	EXPECT_TRUE(err == ENETUNREACH || err == ECONNREFUSED ||
		    err == EADDRNOTAVAIL) TH_LOG("connect: %s", strerror(err));
	EXPECT_EQ(0, close(fd));
	close(orig);
}

/* ---------------------------------------------------------------------- */
/* rmmod while a socket exists (last: it reloads the module)               */
/* ---------------------------------------------------------------------- */

static int run_cmd(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static const char *module_path(void)
{
	const char *p = getenv("MQTT_MODULE");

	if (p && *p && !access(p, R_OK))
		return p;
	p = "/run/mqtt-vm-local/mqtt.ko";
	return access(p, R_OK) ? NULL : p;
}

/* A fixture of its own, registered last, so that this runs last. */
FIXTURE(module) {
	int unused;
};

FIXTURE_SETUP(module)
{
}

FIXTURE_TEARDOWN(module)
{
}

TEST_F_TIMEOUT(module, rmmod_refused_while_socket_exists, 60)
{
	char *rmmod[] = { "rmmod", "mqtt", NULL };
	char famarg[32], *insmod[] = { "insmod", NULL, famarg, NULL };
	const char *path = module_path();
	int fam = mqtt_family(), fd, rc, i;

	if (!path)
		SKIP(return, "module file unknown (set MQTT_MODULE)");
	if (access("/sys/module/mqtt", F_OK))
		SKIP(return, "mqtt is not a loadable module here");
	snprintf(famarg, sizeof(famarg), "family=%d", fam);
	insmod[1] = (char *)path;

	fd = socket(fam, SOCK_SEQPACKET, 0);
	ASSERT_LE(0, fd);
	rc = run_cmd(rmmod);
	EXPECT_NE(0, rc) TH_LOG("rmmod succeeded with a socket open");
	if (!rc) {
		/* Put it back so the remaining programs can run. */
		close(fd);
		ASSERT_EQ(0, run_cmd(insmod));
		return;
	}
	ASSERT_EQ(0, access("/sys/module/mqtt", F_OK));
	/* The socket still works after the refusal. */
	set_str(_metadata, fd, MQTT_CLIENT_ID, "rm", 2);
	close(fd);

	/* Deferred frees may hold the module a moment. */
	for (i = 0; i < 100 && (rc = run_cmd(rmmod)); i++)
		usleep(100000);
	EXPECT_EQ(0, rc) TH_LOG("rmmod refused after the last close");
	if (!rc) {
		EXPECT_NE(0, access("/sys/module/mqtt", F_OK));
		EXPECT_EQ(-1, socket(fam, SOCK_SEQPACKET, 0));
		EXPECT_EQ(EAFNOSUPPORT, errno);
	}
	ASSERT_EQ(0, run_cmd(insmod)) TH_LOG("insmod %s failed", path);
	fd = socket(fam, SOCK_SEQPACKET, 0);
	ASSERT_LE(0, fd) TH_LOG("socket after reload: %s", strerror(errno));
	close(fd);
}

TEST_HARNESS_MAIN
