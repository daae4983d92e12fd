// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT over a socket the application attached (MQTT_TRANSPORT_FD):
 * plain TCP and TLS over kTLS, the handshake done by the test with
 * OpenSSL (samples/mqtt/ktls_openssl.h), as a gateway would.
 *
 * - attach: every kind of descriptor the option must refuse, and what
 *   becomes of the socket attached (given back untouched, ended with
 *   the session, reset by an abortive close);
 * - tls_broker: mosquitto's TLS listeners of the VM (guest-init.sh):
 *   TLS 1.2 and 1.3 with every cipher kTLS has, mutual TLS, and the
 *   refusals (wrong CA, wrong name, expired certificate, no client
 *   certificate, one the broker does not trust);
 * - tls_peer: the scripted peer of peer.h speaking TLS with kTLS on its
 *   end too, so that it can send what a broker rarely does: every alert,
 *   session tickets, KeyUpdate, a FIN without close_notify.
 *
 * The whole session suite runs over these transports as variants of its
 * fixtures (session.c).
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/mqtt.h>

#include "peer.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

/* setsockopt(MQTT_TRANSPORT_FD, fd): 0 or the errno. */
static int attach(int mfd, int fd)
{
	return setsockopt(mfd, SOL_MQTT, MQTT_TRANSPORT_FD, &fd,
			  sizeof(fd)) ? errno : 0;
}

/* MQTT_TLS_ALERT: the alert, or -errno. */
static int tls_alert(int mfd)
{
	socklen_t len = sizeof(int);
	int val;

	if (getsockopt(mfd, SOL_MQTT, MQTT_TLS_ALERT, &val, &len))
		return -errno;
	return val;
}

/* Wait for a message and check its payload. */
static void recv_payload(struct __test_metadata *_metadata, int fd,
			 const void *want, size_t len)
{
	static uint8_t buf[65536];
	struct rmsg m;

	recv_wait(_metadata, &m, fd, buf, sizeof(buf), 0);
	ASSERT_EQ((ssize_t)len, m.ret);
	EXPECT_EQ(0, memcmp(buf, want, len));
}

/* A connected TCP socket with nothing at the other end but a listener
 * the test never reads: for refusals.
 */
static int tcp_connected(struct __test_metadata *_metadata, struct peer *p)
{
	int err = peer_listen(p, AF_INET);

	ASSERT_EQ(0, err);
	return peer_pair(_metadata, p, NULL, NULL);
}

/* ---------------------------------------------------------------------- */
/* attach: the option's checks, and the attached socket's fate             */
/* ---------------------------------------------------------------------- */

FIXTURE(attach) {
	int fd;			/* the AF_MQTT socket */
	struct peer p;
	int tcp;		/* a connected TCP socket of the test */
};

FIXTURE_SETUP(attach)
{
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	set_str(_metadata, self->fd, MQTT_CLIENT_ID, "a1", 2);
	self->tcp = tcp_connected(_metadata, &self->p);
}

FIXTURE_TEARDOWN(attach)
{
	close(self->fd);
	if (self->tcp >= 0)
		close(self->tcp);
	peer_close(&self->p);
}

TEST_F(attach, bad_descriptor_ebadf)
{
	EXPECT_EQ(EBADF, attach(self->fd, 100000));
	EXPECT_EQ(EBADF, attach(self->fd, -2));
}

TEST_F(attach, file_enotsock)
{
	int f = open("/dev/null", O_RDWR);

	ASSERT_LE(0, f);
	EXPECT_EQ(ENOTSOCK, attach(self->fd, f));
	close(f);
}

TEST_F(attach, wrong_option_length_einval)
{
	long long v = self->tcp;

	EXPECT_EQ(-1, setsockopt(self->fd, SOL_MQTT, MQTT_TRANSPORT_FD, &v,
				 sizeof(v)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_MQTT, MQTT_TRANSPORT_FD, &v, 2));
	EXPECT_EQ(EINVAL, errno);
}

/* Not TCP: UDP, a UNIX stream, AF_MQTT sockets (another, and itself). */
TEST_F(attach, not_tcp_einval)
{
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	int other = mqtt_socket(_metadata, SOCK_SEQPACKET);
	int sv[2];

	ASSERT_LE(0, udp);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	EXPECT_EQ(EINVAL, attach(self->fd, udp));
	EXPECT_EQ(EINVAL, attach(self->fd, sv[0]));
	EXPECT_EQ(EINVAL, attach(self->fd, other));
	EXPECT_EQ(EINVAL, attach(self->fd, self->fd));
	close(udp);
	close(other);
	close(sv[0]);
	close(sv[1]);
}

TEST_F(attach, unconnected_tcp_enotconn)
{
	int tcp = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_LE(0, tcp);
	EXPECT_EQ(ENOTCONN, attach(self->fd, tcp));
	close(tcp);
}

TEST_F(attach, listening_tcp_einval)
{
	EXPECT_EQ(EINVAL, attach(self->fd, self->p.lfd));
}

TEST_F(attach, attached_elsewhere_ebusy)
{
	int other = mqtt_socket(_metadata, SOCK_SEQPACKET);

	ASSERT_EQ(0, attach(other, self->tcp));
	EXPECT_EQ(EBUSY, attach(self->fd, self->tcp));
	/* Given back when the other lets go of it. */
	ASSERT_EQ(0, attach(other, -1));
	EXPECT_EQ(0, attach(self->fd, self->tcp));
	close(other);
}

/* A socket of another network namespace. */
TEST_F(attach, other_namespace_einval)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid) {
		int fd;

		if (unshare(CLONE_NEWNET))
			_exit(2);
		fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
		if (fd < 0)
			_exit(3);
		_exit(attach(fd, self->tcp) == EINVAL ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("1: not EINVAL, 2: unshare, 3: socket");
}

/* kTLS one way only is refused: the session reads through kTLS too. */
TEST_F(attach, ktls_tx_only_einval)
{
	struct ktls_opts o = tls_client_opts(TLS1_3_VERSION);
	struct ktls_opts srv = tls_server_opts(TLS1_3_VERSION);
	struct tls_server t = { .p = &self->p, .o = srv };
	char msg[256] = "";
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	pthread_t th;
	int err;

	/* The fixture's connection, TLS on both ends, kTLS TX only here. */
	ASSERT_EQ(0, start_thread(&th, tls_server_main, &t));
	ctx = ktls_ctx_new(&o, msg, sizeof(msg));
	if (ctx)
		ssl = ktls_handshake(ctx, self->tcp, &o, msg, sizeof(msg));
	err = !ssl || ktls_enable(ssl, self->tcp, false, msg, sizeof(msg));
	ktls_ssl_free(ssl);
	SSL_CTX_free(ctx);
	pthread_join(th, NULL);
	ASSERT_EQ(0, err) TH_LOG("TLS client: %s", msg);
	EXPECT_EQ(EINVAL, attach(self->fd, self->tcp));
}

TEST_F(attach, write_only_option_eopnotsupp)
{
	socklen_t len = sizeof(int);
	int v;

	EXPECT_EQ(-1, getsockopt(self->fd, SOL_MQTT, MQTT_TRANSPORT_FD, &v,
				 &len));
	EXPECT_EQ(EOPNOTSUPP, errno);
}

TEST_F(attach, tls_alert_read_only_and_none_yet)
{
	int v = 0;

	EXPECT_EQ(-1, setsockopt(self->fd, SOL_MQTT, MQTT_TLS_ALERT, &v,
				 sizeof(v)));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-ENODATA, tls_alert(self->fd));
}

/* connect(fd, NULL, 0) needs an attached socket; an address does not go
 * with one.
 */
TEST_F(attach, connect_without_address)
{
	struct sockaddr_in sin = broker_in("MQTT_BROKER_PORT", 1883);

	EXPECT_EQ(EINVAL, connect_errno(self->fd, NULL, 0));
	ASSERT_EQ(0, attach(self->fd, self->tcp));
	EXPECT_EQ(EISCONN, connect_in(self->fd, &sin));
}

/* Given back untouched: the test's socket still reaches the peer. */
TEST_F(attach, detached_socket_untouched)
{
	ASSERT_EQ(0, attach(self->fd, self->tcp));
	ASSERT_EQ(0, attach(self->fd, -1));
	ASSERT_EQ(3, send(self->tcp, "abc", 3, MSG_NOSIGNAL));
	ASSERT_EQ(0, attach(self->fd, self->tcp));
	/* And when the AF_MQTT socket closes before connect(). */
	close(self->fd);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	ASSERT_EQ(3, send(self->tcp, "def", 3, MSG_NOSIGNAL));
	ASSERT_EQ(0, read_exact(&self->p, (uint8_t[6]){ 0 }, 6,
				now_ms() + PEER_TIMEOUT_MS));
}

/* The session over the attached socket: CONNECT, a message, DISCONNECT
 * and FIN; EISCONN for attaching again.
 */
TEST_F(attach, session_then_eisconn)
{
	ASSERT_EQ(0, attach(self->fd, self->tcp));
	close(self->tcp);
	self->tcp = -1;
	set_nonblock(_metadata, self->fd);
	ASSERT_EQ(EINPROGRESS, connect_errno(self->fd, NULL, 0));
	ASSERT_EQ(0, peer_handshake(&self->p, true));
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->fd, POLLOUT,
				   PEER_TIMEOUT_MS) & (POLLOUT | POLLERR));
	EXPECT_EQ(EISCONN, attach(self->fd, -1));
	set_str(_metadata, self->fd, MQTT_PUBLISH_TOPIC, "t", 1);
	ASSERT_EQ(2, send(self->fd, "hi", 2, 0));
	PEER_EXPECT(&self->p, PUBLISH, 5, 0, 1, 't', 'h', 'i');
	close(self->fd);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	peer_expect_disconnect(_metadata, &self->p);
}

/* A refused connect ends the attached connection too: the test's copy of
 * the descriptor sees the end.
 */
TEST_F(attach, refused_connect_ends_the_connection)
{
	uint8_t b;

	ASSERT_EQ(0, attach(self->fd, self->tcp));
	set_nonblock(_metadata, self->fd);
	ASSERT_EQ(EINPROGRESS, connect_errno(self->fd, NULL, 0));
	ASSERT_EQ(0, peer_handshake(&self->p, false));
	ASSERT_EQ(0, peer_connack(&self->p, 0, MQTT_CONNACK_NOT_AUTHORIZED));
	ASSERT_TRUE(poll_fd(_metadata, self->fd, POLLOUT, PEER_TIMEOUT_MS) &
		    POLLERR);
	EXPECT_EQ(EACCES, so_error(_metadata, self->fd));
	/* Shut both ways: EOF for the test's descriptor, FIN to the peer. */
	EXPECT_EQ(0, recv(self->tcp, &b, 1, MSG_DONTWAIT));
	EXPECT_TRUE(peer_closed(&self->p));
	/* The socket is the test's again, to close; the next connect
	 * needs a new one.
	 */
	EXPECT_EQ(EINVAL, connect_errno(self->fd, NULL, 0));
}

/* The broker's FIN before connect() (CLOSE_WAIT) is the session's to
 * see: the attach is accepted and connect() fails as with any broker
 * that closes before CONNACK.
 */
TEST_F(attach, broker_closed_before_connect)
{
	ASSERT_EQ(0, shutdown(self->p.pfd, SHUT_WR));
	usleep(50 * 1000);
	ASSERT_EQ(0, attach(self->fd, self->tcp));
	EXPECT_EQ(ECONNRESET, connect_errno(self->fd, NULL, 0));
}

/* SO_LINGER 0: the attached connection is reset, as our own would be. */
TEST_F(attach, abortive_close_resets)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	ASSERT_EQ(0, attach(self->fd, self->tcp));
	set_nonblock(_metadata, self->fd);
	ASSERT_EQ(EINPROGRESS, connect_errno(self->fd, NULL, 0));
	ASSERT_EQ(0, peer_handshake(&self->p, true));
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, self->fd, POLLOUT,
				   PEER_TIMEOUT_MS) & (POLLOUT | POLLERR));
	ASSERT_EQ(0, setsockopt(self->fd, SOL_SOCKET, SO_LINGER, &lg,
				sizeof(lg)));
	close(self->fd);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	EXPECT_EQ(CLOSED_RST, (int)peer_until_closed(&self->p,
						     PEER_TIMEOUT_MS, NULL, 0,
						     NULL));
}

/* ---------------------------------------------------------------------- */
/* tls_broker: mosquitto's TLS listeners                                   */
/* ---------------------------------------------------------------------- */

FIXTURE(tls_broker) {
	int fd;
	SSL *ssl;
	char err[512];
};

FIXTURE_VARIANT(tls_broker) {
	int version;
	const char *cipher;	/* the TLS 1.2 cipher or TLS 1.3 suite */
	bool mutual;		/* the listener that wants our certificate */
};

FIXTURE_VARIANT_ADD(tls_broker, tls12_aes128) {
	TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", false,
};
FIXTURE_VARIANT_ADD(tls_broker, tls12_aes256) {
	TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", false,
};
FIXTURE_VARIANT_ADD(tls_broker, tls12_chacha20) {
	TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", false,
};
FIXTURE_VARIANT_ADD(tls_broker, tls13_aes128) {
	TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", false,
};
FIXTURE_VARIANT_ADD(tls_broker, tls13_aes256) {
	TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", false,
};
FIXTURE_VARIANT_ADD(tls_broker, tls13_chacha20) {
	TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", false,
};
FIXTURE_VARIANT_ADD(tls_broker, tls12_mutual) {
	TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", true,
};
FIXTURE_VARIANT_ADD(tls_broker, tls13_mutual) {
	TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", true,
};

static struct ktls_opts broker_opts(const FIXTURE_VARIANT(tls_broker) *v)
{
	struct ktls_opts o = tls_client_opts(v->version);

	if (v->version == TLS1_2_VERSION)
		o.ciphers = v->cipher;
	else
		o.suites = v->cipher;
	if (v->mutual) {
		o.cert_file = tls_file("client.crt");
		o.key_file = tls_file("client.key");
	}
	return o;
}

static const char *broker_port(bool mutual)
{
	static char port[8];

	snprintf(port, sizeof(port), "%d",
		 mutual ? env_port("MQTT_BROKER_MTLS_PORT", 8884) :
			  env_port("MQTT_BROKER_TLS_PORT", 8883));
	return port;
}

/* TCP, TLS and kTLS to the broker: the TCP fd, or -1 with self->err. */
static int broker_tls(FIXTURE_DATA(tls_broker) *self, bool mutual,
		      const struct ktls_opts *o)
{
	return ktls_connect("127.0.0.1", broker_port(mutual), o, &self->ssl,
			    self->err, sizeof(self->err));
}

FIXTURE_SETUP(tls_broker)
{
	require_broker(_metadata, "MQTT_BROKER_TLS_PORT", 8883);
	self->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	self->ssl = NULL;
}

FIXTURE_TEARDOWN(tls_broker)
{
	close(self->fd);
	ktls_ssl_free(self->ssl);
}

/* A session over kTLS: subscribe, publish at QoS 1 and 2, receive both
 * back, close with DISCONNECT (and close_notify).
 */
TEST_F(tls_broker, session_round_trip)
{
	struct ktls_opts o = broker_opts(variant);
	struct sub_buf b;
	socklen_t optlen;
	char topic[64];
	int tcp;

	tcp = broker_tls(self, variant->mutual, &o);
	ASSERT_LE(0, tcp) TH_LOG("%s", self->err);
	TH_LOG("%s %s", SSL_get_version(self->ssl),
	       SSL_CIPHER_get_name(SSL_get_current_cipher(self->ssl)));
	snprintf(topic, sizeof(topic), "tls/%s", _metadata->name);
	set_str(_metadata, self->fd, MQTT_CLIENT_ID, topic + 4,
		strlen(topic + 4));
	ASSERT_EQ(0, attach(self->fd, tcp));
	close(tcp);
	ASSERT_EQ(0, connect_errno(self->fd, NULL, 0));
	expect_connack(_metadata, self->fd, 0, 0);

	optlen = sub_fill(&b, 2, topic, strlen(topic));
	ASSERT_EQ(0, setsockopt(self->fd, SOL_MQTT, MQTT_SUBSCRIBE, &b,
				optlen)) TH_LOG("subscribe: %s", strerror(errno));
	ASSERT_EQ(2, b.sub.qos);
	for (int q = 1; q <= 2; q++) {
		struct pub pub = PUB_DEFAULTS;
		uint8_t buf[16];
		struct rmsg m;

		pub.topic = topic;
		pub.topic_len = strlen(topic);
		pub.qos = q;
		ASSERT_EQ(5, mqtt_send(self->fd, &pub, "hello", 5, 0));
		recv_wait(_metadata, &m, self->fd, buf, sizeof(buf), 0);
		expect_msg(_metadata, &m, buf, topic, "hello", 5, q, 0, 0);
	}
	EXPECT_EQ(-ENODATA, tls_alert(self->fd));
}

/* Each of these fails in the application's own handshake: nothing for
 * AF_MQTT to attach.
 */
TEST_F(tls_broker, wrong_ca_refused_by_us)
{
	struct ktls_opts o = broker_opts(variant);

	o.ca_file = tls_file("rogue-ca.crt");
	ASSERT_EQ(-1, broker_tls(self, variant->mutual, &o));
	EXPECT_NE(NULL, strstr(self->err, "certificate")) TH_LOG("%s",
								 self->err);
}

TEST_F(tls_broker, wrong_name_refused_by_us)
{
	struct ktls_opts o = broker_opts(variant);

	o.peer_name = "broker.invalid";
	ASSERT_EQ(-1, broker_tls(self, variant->mutual, &o));
	EXPECT_NE(NULL, strstr(self->err, "hostname")) TH_LOG("%s", self->err);
}

/*
 * The broker refuses our certificate (or its absence).  TLS 1.2 says so
 * in the handshake; TLS 1.3 after the client's handshake is over, in an
 * alert the session reads: connect() fails with the alert's errno
 * (ENOKEY: a certificate was required; EKEYREVOKED: ours was refused)
 * and MQTT_TLS_ALERT names it.  The alert may also have come, and the
 * broker closed, before the attach (or before the application's kTLS
 * setup): then that step sees a connection that is over.  The errno of
 * each alert is checked, without that race, by tls_peer's tests.
 */
static void expect_refused(struct __test_metadata *_metadata,
			   FIXTURE_DATA(tls_broker) *self,
			   const FIXTURE_VARIANT(tls_broker) *variant,
			   const struct ktls_opts *o, int err, int alert)
{
	struct mqtt_connack ca;
	int tcp = broker_tls(self, true, o), ret;
	int tls_errno = errno;

	if (variant->version == TLS1_2_VERSION) {
		ASSERT_EQ(-1, tcp) TH_LOG("TLS 1.2 handshake accepted");
		TH_LOG("%s", self->err);
		return;
	}
	/* The broker's alert and close may even beat our kTLS setup. */
	if (tcp < 0 && (tls_errno == ENOTCONN || tls_errno == ECONNRESET ||
			tls_errno == EPIPE)) {
		TH_LOG("the broker closed before kTLS was on: %s", self->err);
		return;
	}
	ASSERT_LE(0, tcp) TH_LOG("%s", self->err);
	ret = attach(self->fd, tcp);
	close(tcp);
	if (ret == ENOTCONN || ret == 0) {
		if (!ret)
			ret = connect_errno(self->fd, NULL, 0);
		if (ret == ENOTCONN || ret == ECONNRESET) {
			TH_LOG("the broker closed before the alert was read");
			return;
		}
	}
	ASSERT_EQ(err, ret) TH_LOG("connect: %s", strerror(ret));
	EXPECT_EQ(alert, tls_alert(self->fd));
	EXPECT_EQ(ENOTCONN, read_connack(_metadata, self->fd, &ca));
}

TEST_F(tls_broker, no_client_certificate_refused)
{
	struct ktls_opts o = broker_opts(variant);

	o.cert_file = o.key_file = NULL;
	expect_refused(_metadata, self, variant, &o, ENOKEY,
		       KTLS_ALERT_FATAL << 8 | KTLS_CERTIFICATE_REQUIRED);
}

TEST_F(tls_broker, untrusted_client_certificate_refused)
{
	struct ktls_opts o = broker_opts(variant);

	o.cert_file = tls_file("rogue-client.crt");
	o.key_file = tls_file("rogue-client.key");
	expect_refused(_metadata, self, variant, &o, EKEYREVOKED,
		       KTLS_ALERT_FATAL << 8 | KTLS_UNKNOWN_CA);
}

/* A broker whose certificate expired: refused by our handshake (the peer
 * plays it, mosquitto would not start with one).
 */
TEST_F(tls_broker, expired_certificate_refused_by_us)
{
	struct ktls_opts o = broker_opts(variant);
	struct ktls_opts srv = tls_server_opts(variant->version);
	struct tls_server t;
	struct peer p;
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	pthread_t th;
	int fd;

	srv.cert_file = tls_file("expired.crt");
	srv.key_file = tls_file("expired.key");
	ASSERT_EQ(0, peer_listen(&p, AF_INET));
	fd = peer_pair(_metadata, &p, NULL, NULL);
	t = (struct tls_server){ .p = &p, .o = srv };
	ASSERT_EQ(0, start_thread(&th, tls_server_main, &t));
	ctx = ktls_ctx_new(&o, self->err, sizeof(self->err));
	if (ctx)
		ssl = ktls_handshake(ctx, fd, &o, self->err, sizeof(self->err));
	SSL_CTX_free(ctx);
	close(fd);
	pthread_join(th, NULL);
	peer_close(&p);
	ASSERT_EQ(NULL, ssl) TH_LOG("an expired certificate was accepted");
	EXPECT_NE(NULL, strstr(self->err, "expired")) TH_LOG("%s", self->err);
}

/* ---------------------------------------------------------------------- */
/* tls_peer: the scripted peer over kTLS                                   */
/* ---------------------------------------------------------------------- */

FIXTURE(tls_peer) {
	struct sess s;
};

FIXTURE_VARIANT(tls_peer) {
	enum sess_transport transport;
};

FIXTURE_VARIANT_ADD(tls_peer, tls12) { .transport = SESS_TLS12 };
FIXTURE_VARIANT_ADD(tls_peer, tls13) { .transport = SESS_TLS13 };

FIXTURE_SETUP(tls_peer)
{
	sess_init(_metadata, &self->s, AF_INET);
	self->s.transport = variant->transport;
	sess_connect(_metadata, &self->s);
}

FIXTURE_TEARDOWN(tls_peer)
{
	sess_fini(&self->s);
}

/* The session still works: a message from the peer arrives. */
static void expect_alive(struct __test_metadata *_metadata, struct sess *s)
{
	peer_publish_str(_metadata, &s->p, PUBLISH, "t", 0, "alive");
	recv_payload(_metadata, s->fd, "alive", 5);
}

/* The session ended with err, QoS 1 in flight reported lost. */
static void expect_end(struct __test_metadata *_metadata, struct sess *s,
		       int err)
{
	wait_session_end(_metadata, s->fd);
	ASSERT_EQ(err, so_error(_metadata, s->fd))
		TH_LOG("%s, want %s", strerror(so_error(_metadata, s->fd)),
		       strerror(err));
}

static const struct {
	uint8_t desc;
	int err;
} fatal_alerts[] = {
	{ KTLS_BAD_CERTIFICATE, EKEYREVOKED },
	{ KTLS_CERTIFICATE_EXPIRED, EKEYREVOKED },
	{ KTLS_UNKNOWN_CA, EKEYREVOKED },
	{ KTLS_ACCESS_DENIED, EKEYREVOKED },
	{ KTLS_CERTIFICATE_REQUIRED, ENOKEY },
	{ KTLS_DECRYPT_ERROR, EREMOTEIO },
	{ KTLS_INTERNAL_ERROR, EREMOTEIO },
};

/* Every fatal alert ends the session with its errno, each on a session
 * of its own; MQTT_TLS_ALERT names it.
 */
TEST_F(tls_peer, fatal_alerts_map_to_errno)
{
	for (size_t i = 0; i < sizeof(fatal_alerts) / sizeof(fatal_alerts[0]);
	     i++) {
		if (i) {
			sess_fini(&self->s);
			sess_init(_metadata, &self->s, AF_INET);
			self->s.transport = variant->transport;
			sess_connect(_metadata, &self->s);
		}
		ASSERT_EQ(2, ktls_send_alert(self->s.p.pfd, KTLS_ALERT_FATAL,
					     fatal_alerts[i].desc));
		expect_end(_metadata, &self->s, fatal_alerts[i].err);
		EXPECT_EQ(KTLS_ALERT_FATAL << 8 | fatal_alerts[i].desc,
			  tls_alert(self->s.fd));
		peer_expect_silent_close(_metadata, &self->s.p);
	}
}

/* The broker's close_notify is its orderly end of the stream: as its FIN
 * over TCP, ECONNRESET (MQTT 3.1.1 brokers never end a session in
 * order), the messages in flight reported lost.
 */
TEST_F(tls_peer, close_notify_ends_session)
{
	int outcome[1];

	set_int(_metadata, self->s.fd, MQTT_DELIVERY_REPORTS, 1);
	set_str(_metadata, self->s.fd, MQTT_PUBLISH_TOPIC, "t", 1);
	set_int(_metadata, self->s.fd, MQTT_PUBLISH_QOS, 1);
	ASSERT_EQ(1, send(self->s.fd, "x", 1, 0));
	peer_publish(_metadata, &self->s.p, PUBLISH | PUB_QOS(1));
	ASSERT_EQ(2, ktls_send_alert(self->s.p.pfd, KTLS_ALERT_WARNING,
				     KTLS_CLOSE_NOTIFY));
	expect_end(_metadata, &self->s, ECONNRESET);
	EXPECT_EQ(KTLS_ALERT_WARNING << 8 | KTLS_CLOSE_NOTIFY,
		  tls_alert(self->s.fd));
	outcome[0] = REPORT_NONE;
	wait_reports(_metadata, self->s.fd, outcome, 1);
	EXPECT_EQ(ECONNRESET, outcome[0]);
}

/* A FIN without close_notify ends it the same way. */
TEST_F(tls_peer, fin_without_close_notify)
{
	ASSERT_EQ(0, shutdown(self->s.p.pfd, SHUT_WR));
	expect_end(_metadata, &self->s, ECONNRESET);
	EXPECT_EQ(-ENODATA, tls_alert(self->s.fd));
}

/* A warning other than close_notify changes nothing: user_canceled
 * (90), a warning in TLS 1.3 too, and in TLS 1.2 any warning.
 */
TEST_F(tls_peer, warning_alert_ignored)
{
	ASSERT_EQ(2, ktls_send_alert(self->s.p.pfd, KTLS_ALERT_WARNING, 90));
	expect_alive(_metadata, &self->s);
	EXPECT_EQ(KTLS_ALERT_WARNING << 8 | 90, tls_alert(self->s.fd));
}

/* A session ticket after the handshake is read and ignored. */
TEST_F(tls_peer, session_ticket_ignored)
{
	/* new_session_ticket, 4-byte body length, then a small ticket. */
	static const uint8_t nst[] = {
		KTLS_NEW_SESSION_TICKET, 0, 0, 13,
		0, 0, 0x0e, 0x10,	/* lifetime */
		1, 2, 3, 4,		/* age add */
		0,			/* nonce */
		0, 1, 0xaa,		/* ticket */
		0, 0,			/* extensions */
	};

	ASSERT_EQ((ssize_t)sizeof(nst),
		  ktls_send_record(self->s.p.pfd, KTLS_REC_HANDSHAKE, nst,
				   sizeof(nst)));
	expect_alive(_metadata, &self->s);
}

/* Handshake messages are parsed as such: two tickets in one record, and
 * one ticket larger than a page (several reads of the module's), are
 * ignored; a KeyUpdate after a ticket in the same record is seen.
 */
TEST_F(tls_peer, tickets_in_one_record_and_across_reads)
{
	static uint8_t rec[2 * 8 + 9000];
	size_t n = 0, body;

	for (int i = 0; i < 2; i++) {	/* two small tickets */
		static const uint8_t t[] = {
			KTLS_NEW_SESSION_TICKET, 0, 0, 4, 0, 0, 0, 1,
		};

		memcpy(rec + n, t, sizeof(t));
		n += sizeof(t);
	}
	body = 9000 - 4;		/* and a large one */
	rec[n++] = KTLS_NEW_SESSION_TICKET;
	rec[n++] = body >> 16;
	rec[n++] = body >> 8;
	rec[n++] = body;
	memset(rec + n, KTLS_KEY_UPDATE, body);	/* bytes that look like one */
	n += body;
	ASSERT_EQ((ssize_t)n, ktls_send_record(self->s.p.pfd,
					       KTLS_REC_HANDSHAKE, rec, n));
	expect_alive(_metadata, &self->s);
}

TEST_F(tls_peer, key_update_after_ticket_in_one_record)
{
	static const uint8_t rec[] = {
		KTLS_NEW_SESSION_TICKET, 0, 0, 4, 0, 0, 0, 1,
		KTLS_KEY_UPDATE, 0, 0, 1, 0,
	};

	ASSERT_EQ((ssize_t)sizeof(rec),
		  ktls_send_record(self->s.p.pfd, KTLS_REC_HANDSHAKE, rec,
				   sizeof(rec)));
	expect_end(_metadata, &self->s, EKEYEXPIRED);
}

/* KeyUpdate: the new key is the application's to derive, and no kernel
 * lets the session ask for it: the session ends, EKEYEXPIRED.
 */
TEST_F(tls_peer, key_update_ends_session)
{
	static const uint8_t ku[] = { KTLS_KEY_UPDATE, 0, 0, 1, 0 };

	ASSERT_EQ((ssize_t)sizeof(ku),
		  ktls_send_record(self->s.p.pfd, KTLS_REC_HANDSHAKE, ku,
				   sizeof(ku)));
	expect_end(_metadata, &self->s, EKEYEXPIRED);
	peer_expect_silent_close(_metadata, &self->s.p);
}

/* close(): DISCONNECT, then our close_notify, then FIN. */
TEST_F(tls_peer, close_sends_close_notify)
{
	close(self->s.fd);
	self->s.fd = -1;
	peer_expect_disconnect(_metadata, &self->s.p);
	EXPECT_EQ(KTLS_ALERT_WARNING << 8 | KTLS_CLOSE_NOTIFY, self->s.p.alert);
}

/* A message split over many records, and many messages in one. */
TEST_F(tls_peer, records_and_packets_unaligned)
{
	static uint8_t big[40000], buf[sizeof(big) + 16];
	uint8_t three[64];
	size_t n = 0;

	fill_pattern(big, sizeof(big));
	n = build_publish(buf, PUBLISH, "t", 1, 0, big, sizeof(big));
	peer_send(_metadata, &self->s.p, buf, n);
	recv_payload(_metadata, self->s.fd, big, sizeof(big));
	n = 0;
	for (int i = 0; i < 3; i++)
		n += build_publish(three + n, PUBLISH, "t", 1, 0, "m", 1);
	peer_send(_metadata, &self->s.p, three, n);
	for (int i = 0; i < 3; i++)
		recv_payload(_metadata, self->s.fd, "m", 1);
}

TEST_HARNESS_MAIN
