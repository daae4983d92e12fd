/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The scripted peer of the AF_MQTT selftests: the test plays the broker
 * on a TCP connection of its own.  One copy of each piece, used by every
 * test file:
 *
 * - packet names: the first byte of every MQTT 3.1.1 packet (type and
 *   the flags the type requires), PUBLISH flags, the Remaining Length
 *   decoder (put_varint() in mqtt_test.h encodes), packet builders;
 * - struct peer: a listener on 127.0.0.1 or ::1, the accepted
 *   connection, and the last packet read from it by Remaining Length;
 *   the CONNECT/CONNACK exchange; how the client ended TCP;
 * - struct sess: an AF_MQTT socket connected to a peer (CONNACK 0), over
 *   the module's own TCP socket, an attached one (MQTT_TRANSPORT_FD), or
 *   an attached one with TLS 1.2 or 1.3 over kTLS on both ends;
 * - a call that blocks run in a helper thread (struct async), a thread
 *   that blocks every signal, and counting signals.
 *
 * The functions without _metadata never ASSERT and return 0 or an errno,
 * so that a broker thread (autobroker.h, connect.c's scripted peer) can
 * use them; those taking _metadata ASSERT, in the test's thread only.
 * Every wait is bounded by PEER_TIMEOUT_MS or the timeout given.
 */
#ifndef MQTT_PEER_H
#define MQTT_PEER_H

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include "mqtt_test.h"
#include "ktls_openssl.h"

/* ---------------------------------------------------------------------- */
/* Packets                                                                 */
/* ---------------------------------------------------------------------- */

/* First bytes: packet type << 4, with the flags the type requires. */
#define CONNECT			0x10
#define CONNACK			0x20
#define PUBLISH			0x30
#define PUBACK			0x40
#define PUBREC			0x50
#define PUBREL			0x62
#define PUBCOMP			0x70
#define SUBSCRIBE		0x82
#define SUBACK			0x90
#define UNSUBSCRIBE		0xa2
#define UNSUBACK		0xb0
#define PINGREQ			0xc0
#define PINGRESP		0xd0
#define DISCONNECT		0xe0

/* The type of a first byte, to compare with PKT_TYPE(name). */
#define PKT_TYPE(byte)		((byte) & 0xf0)

/* PUBLISH flags. */
#define PUB_DUP			0x08
#define PUB_QOS(q)		((q) << 1)
#define PUB_QOS_OF(byte)	(((byte) >> 1) & 3)
#define PUB_RETAIN		0x01

/* Whole small packets and fields, as byte lists. */
#define CONNACK_HDR		CONNACK, 0x02
#define PINGREQ_BYTES		PINGREQ, 0x00
#define PINGRESP_BYTES		PINGRESP, 0x00
#define DISCONNECT_BYTES	DISCONNECT, 0x00
#define ID_BYTES(id)		(uint8_t)((id) >> 8), (uint8_t)(id)

/* MQTT's largest Remaining Length. */
#define MQTT_REMLEN_MAX		268435455

/*
 * The fixed header at p (avail bytes): 1 and its size and the Remaining
 * Length when whole, 0 when more bytes are needed, -1 when the
 * Remaining Length runs past 4 bytes (malformed).
 */
static inline int remlen_decode(const uint8_t *p, size_t avail, size_t *hdr,
				size_t *rem)
{
	size_t val = 0, n;
	int shift = 0;

	for (n = 1; n < avail; n++) {
		if (n == 5)
			return -1;
		val |= (size_t)(p[n] & 0x7f) << shift;
		shift += 7;
		if (!(p[n] & 0x80)) {
			*hdr = n + 1;
			*rem = val;
			return 1;
		}
	}
	return avail >= 5 ? -1 : 0;
}

/* A 4-byte ack (PUBACK ... UNSUBACK, or PUBREL) with identifier id. */
static inline size_t build_ack(uint8_t *buf, uint8_t type, uint16_t id)
{
	buf[0] = type;
	buf[1] = 2;
	buf[2] = id >> 8;
	buf[3] = id;
	return 4;
}

static inline size_t build_connack(uint8_t *buf, uint8_t ack_flags,
				   uint8_t code)
{
	buf[0] = CONNACK;
	buf[1] = 2;
	buf[2] = ack_flags;
	buf[3] = code;
	return 4;
}

/* PUBLISH with first byte type into buf (large enough): its length. */
static inline size_t build_publish(uint8_t *buf, uint8_t type,
				   const void *topic, size_t topic_len,
				   uint16_t id, const void *payload, size_t len)
{
	size_t rem = 2 + topic_len + (type & PUB_QOS(3) ? 2 : 0) + len;
	size_t n = 0;

	buf[n++] = type;
	n += put_varint(buf + n, rem);
	buf[n++] = topic_len >> 8;
	buf[n++] = topic_len;
	memcpy(buf + n, topic, topic_len);
	n += topic_len;
	if (type & PUB_QOS(3)) {
		buf[n++] = id >> 8;
		buf[n++] = id;
	}
	memcpy(buf + n, payload, len);
	return n + len;
}

/* The SUBSCRIBE a filter and QoS give, with the identifier id. */
static inline size_t build_subscribe(uint8_t *buf, uint16_t id,
				     const void *filter, size_t len, int qos)
{
	size_t n = 0;

	buf[n++] = SUBSCRIBE;
	n += put_varint(buf + n, 2 + 2 + len + 1);
	buf[n++] = id >> 8;
	buf[n++] = id;
	buf[n++] = len >> 8;
	buf[n++] = len;
	memcpy(buf + n, filter, len);
	n += len;
	buf[n++] = qos;
	return n;
}

static inline size_t build_unsubscribe(uint8_t *buf, uint16_t id,
				       const void *filter, size_t len)
{
	size_t n = 0;

	buf[n++] = UNSUBSCRIBE;
	n += put_varint(buf + n, 2 + 2 + len);
	buf[n++] = id >> 8;
	buf[n++] = id;
	buf[n++] = len >> 8;
	buf[n++] = len;
	memcpy(buf + n, filter, len);
	return n + len;
}

/* A PUBLISH split into its fields. */
struct publish {
	uint8_t type;			/* the whole first byte */
	const uint8_t *topic;
	size_t topic_len;
	uint16_t id;			/* 0 for QoS 0 */
	const uint8_t *payload;
	size_t payload_len;
};

/* Split pkt (fixed header of hdr bytes); false if no valid PUBLISH. */
static inline bool parse_publish(const uint8_t *pkt, size_t hdr, size_t len,
				 struct publish *p)
{
	const uint8_t *b = pkt + hdr;
	size_t rem = len - hdr, off;
	int qos;

	memset(p, 0, sizeof(*p));
	p->type = pkt[0];
	qos = PUB_QOS_OF(p->type);
	if (PKT_TYPE(p->type) != PUBLISH || qos == 3 || rem < 2)
		return false;
	p->topic_len = b[0] << 8 | b[1];
	p->topic = b + 2;
	off = 2 + p->topic_len;
	if (off + (qos ? 2 : 0) > rem)
		return false;
	if (qos) {
		p->id = b[off] << 8 | b[off + 1];
		off += 2;
	}
	p->payload = b + off;
	p->payload_len = rem - off;
	return true;
}

/* ---------------------------------------------------------------------- */
/* The peer: listener, connection, packets                                 */
/* ---------------------------------------------------------------------- */

union peer_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct peer {
	int lfd;			/* the listener, loopback */
	int pfd;			/* the accepted connection */
	union peer_addr addr;		/* where lfd listens */
	socklen_t alen;

	/* The last packet read from the client (peer_pkt()). */
	uint8_t *pkt;
	size_t pkt_len;
	size_t pkt_cap;
	size_t pkt_hdr;			/* bytes of its fixed header */
	int64_t pkt_at;			/* when its first byte was readable */

	/* kTLS on pfd: records are read whole into rec, served from it. */
	bool tls;
	uint8_t *rec;
	size_t rec_off, rec_len;
	uint16_t alert;			/* the last alert the client sent */
};

/* Room for the plaintext of any record (RFC 8446 5.1). */
#define PEER_REC_MAX		16384

/*
 * A TCP listener on the loopback address of family (AF_INET or
 * AF_INET6), any port, socket() flags such as SOCK_NONBLOCK: the fd, or
 * -errno.  backlog 0: bound only, to learn a port nobody listens on.
 */
static inline int loopback_listen(int family, int flags, int backlog,
				  union peer_addr *addr, socklen_t *alen)
{
	int fd = socket(family, SOCK_STREAM | flags, 0), err;

	if (fd < 0)
		return -errno;
	memset(addr, 0, sizeof(*addr));
	if (family == AF_INET6) {
		addr->in6.sin6_family = AF_INET6;
		addr->in6.sin6_addr = in6addr_loopback;
		*alen = sizeof(addr->in6);
	} else {
		addr->in.sin_family = AF_INET;
		addr->in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*alen = sizeof(addr->in);
	}
	if (bind(fd, &addr->sa, *alen) ||
	    (backlog && listen(fd, backlog)) ||
	    getsockname(fd, &addr->sa, alen)) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Listen on the loopback address of family: 0 or an errno. */
static inline int peer_listen(struct peer *p, int family)
{
	memset(p, 0, sizeof(*p));
	p->pfd = -1;
	p->lfd = loopback_listen(family, 0, 16, &p->addr, &p->alen);
	return p->lfd < 0 ? -p->lfd : 0;
}

static inline void peer_close(struct peer *p)
{
	if (p->pfd >= 0)
		close(p->pfd);
	if (p->lfd >= 0)
		close(p->lfd);
	p->pfd = p->lfd = -1;
	free(p->pkt);
	p->pkt = NULL;
	p->pkt_cap = p->pkt_len = 0;
	free(p->rec);
	p->rec = NULL;
	p->rec_off = p->rec_len = 0;
	p->tls = false;
}

/* Bytes from the client are there to read, within ms. */
static inline bool peer_readable(struct peer *p, int ms)
{
	return (p->tls && p->rec_off < p->rec_len) || wait_readable(p->pfd, ms);
}

/*
 * recv() from the client; over kTLS from whole records: the plaintext of
 * data records, 0 at its close_notify (then at FIN), -1 with EPROTO for
 * any other record.
 */
static inline ssize_t peer_recv(struct peer *p, void *buf, size_t len)
{
	uint8_t type;
	ssize_t n;

	if (!p->tls)
		return recv(p->pfd, buf, len, 0);
	if (!p->rec && !(p->rec = malloc(PEER_REC_MAX))) {
		errno = ENOMEM;
		return -1;
	}
	while (p->rec_off == p->rec_len) {
		n = ktls_recv_record(p->pfd, &type, p->rec, PEER_REC_MAX);
		if (n <= 0)
			return n;
		if (type == KTLS_REC_ALERT && n == 2) {
			p->alert = p->rec[0] << 8 | p->rec[1];
			if (p->rec[1] == KTLS_CLOSE_NOTIFY)
				return 0;
		}
		if (type != KTLS_REC_DATA) {
			errno = EPROTO;
			return -1;
		}
		p->rec_off = 0;
		p->rec_len = n;
	}
	n = len < p->rec_len - p->rec_off ? len : p->rec_len - p->rec_off;
	memcpy(buf, p->rec + p->rec_off, n);
	p->rec_off += n;
	return n;
}

/* connect() of an AF_MQTT socket to the peer: 0 or the errno. */
static inline int peer_connect(int fd, const struct peer *p)
{
	return connect_errno(fd, &p->addr, p->alen);
}

/* Accept the client's TCP connection (TCP_NODELAY): 0 or an errno. */
static inline int peer_accept(struct peer *p)
{
	int one = 1;

	if (!wait_readable(p->lfd, PEER_TIMEOUT_MS))
		return ETIMEDOUT;
	p->pfd = accept(p->lfd, NULL, NULL);
	if (p->pfd < 0)
		return errno;
	if (setsockopt(p->pfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return errno;
	return 0;
}

/* Read exactly len bytes from the client before deadline: 0 or an errno. */
static inline int read_exact(struct peer *p, uint8_t *buf, size_t len,
			     int64_t deadline)
{
	int64_t left;
	ssize_t n;

	while (len) {
		left = deadline - now_ms();
		if (left < 0 || !peer_readable(p, left))
			return ETIMEDOUT;
		n = peer_recv(p, buf, len);
		if (n == 0)
			return EPIPE;
		if (n < 0)
			return errno;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * The next packet from the client, by its Remaining Length, into p->pkt:
 * its length, or -ETIMEDOUT, -EPIPE (the client closed), -ECONNRESET,
 * -EPROTO (5-byte Remaining Length), -ENOMEM.
 */
static inline ssize_t peer_pkt(struct peer *p, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t hdr[5];
	size_t n = 1, hlen, rem;
	int err, whole;

	if (!peer_readable(p, timeout_ms))
		return -ETIMEDOUT;
	p->pkt_at = now_ms();
	err = read_exact(p, hdr, 1, deadline);
	while (!err) {
		whole = remlen_decode(hdr, n, &hlen, &rem);
		if (whole < 0)
			return -EPROTO;
		if (whole)
			break;
		err = read_exact(p, hdr + n++, 1, deadline);
	}
	if (err)
		return -err;

	if (hlen + rem > p->pkt_cap) {
		free(p->pkt);
		p->pkt_cap = hlen + rem;
		p->pkt = malloc(p->pkt_cap);
		if (!p->pkt) {
			p->pkt_cap = 0;
			return -ENOMEM;
		}
	}
	memcpy(p->pkt, hdr, hlen);
	p->pkt_hdr = hlen;
	p->pkt_len = hlen + rem;
	err = read_exact(p, p->pkt + hlen, rem, deadline);
	return err ? -err : (ssize_t)p->pkt_len;
}

/* The identifier of p->pkt, an ack, SUBSCRIBE or UNSUBSCRIBE. */
static inline uint16_t pkt_id(const struct peer *p)
{
	const uint8_t *b = p->pkt + p->pkt_hdr;

	return p->pkt_len - p->pkt_hdr >= 2 ? b[0] << 8 | b[1] : 0;
}

/* Send all of buf: 0 or an errno. */
static inline int peer_write(struct peer *p, const void *buf, size_t len)
{
	ssize_t n = send(p->pfd, buf, len, MSG_NOSIGNAL);

	if (n == (ssize_t)len)
		return 0;
	return n < 0 ? errno : EIO;
}

static inline int peer_connack(struct peer *p, uint8_t ack_flags,
			       uint8_t code)
{
	uint8_t buf[4];

	return peer_write(p, buf, build_connack(buf, ack_flags, code));
}

/*
 * Accept the client (unless already accepted), read its CONNECT (in
 * p->pkt) and, if ack, answer CONNACK 0: 0 or an errno (EPROTO: the first
 * packet is no CONNECT).
 */
static inline int peer_handshake(struct peer *p, bool ack)
{
	ssize_t n;
	int err = p->pfd >= 0 ? 0 : peer_accept(p);

	if (!err && (n = peer_pkt(p, PEER_TIMEOUT_MS)) < 0)
		err = -n;
	if (!err && p->pkt[0] != CONNECT)
		err = EPROTO;
	if (!err && ack)
		err = peer_connack(p, 0, 0);
	return err;
}

/* An abortive close of the peer's end: RST. */
static inline void peer_reset(struct peer *p)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(p->pfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(p->pfd);
	p->pfd = -1;
}

enum peer_closed {
	CLOSED_NOT,	/* still open when the peer stopped waiting */
	CLOSED_EOF,	/* the client sent FIN */
	CLOSED_RST,	/* the client reset the connection */
};

/*
 * Collect what the client sends (up to cap bytes into buf; buf may be
 * NULL) until it closes TCP or timeout_ms pass; returns how it ended.
 */
static inline enum peer_closed peer_until_closed(struct peer *p,
						 int timeout_ms, uint8_t *buf,
						 size_t cap, size_t *len)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t tmp[256];
	size_t got = 0;
	int64_t left;
	ssize_t n;

	for (;;) {
		if (len)
			*len = got;
		left = deadline - now_ms();
		if (left < 0 || !peer_readable(p, left))
			return CLOSED_NOT;
		n = peer_recv(p, tmp, sizeof(tmp));
		if (n == 0)
			return CLOSED_EOF;
		if (n < 0)
			return errno == ECONNRESET ? CLOSED_RST : CLOSED_NOT;
		if ((size_t)n > cap - got)
			n = cap - got;
		if (buf)
			memcpy(buf + got, tmp, n);
		got += n;
	}
}

/* The client closes TCP within PEER_TIMEOUT_MS, whatever it sends first. */
static inline bool peer_closed(struct peer *p)
{
	return peer_until_closed(p, PEER_TIMEOUT_MS, NULL, 0, NULL) !=
	       CLOSED_NOT;
}

/* Peer checks for the test's thread. */

/* The next packet, which must come; returns its first byte. */
static inline uint8_t peer_next(struct __test_metadata *_metadata,
				struct peer *p)
{
	ssize_t n = peer_pkt(p, PEER_TIMEOUT_MS);

	ASSERT_LT(0, n) TH_LOG("peer: no packet from the client: %s",
			       strerror(-n));
	return p->pkt[0];
}

/* The next packet must be exactly want. */
static inline void peer_expect(struct __test_metadata *_metadata,
			       struct peer *p, const uint8_t *want, size_t len)
{
	ssize_t n = peer_pkt(p, PEER_TIMEOUT_MS);

	ASSERT_LT(0, n) TH_LOG("peer: waiting for a %02x packet: %s",
			       want[0], strerror(-n));
	expect_bytes(_metadata, want, len, p->pkt, p->pkt_len);
}

#define PEER_EXPECT(p, ...) do {					\
	const uint8_t want_[] = { __VA_ARGS__ };			\
	peer_expect(_metadata, (p), want_, sizeof(want_));		\
} while (0)

static inline void peer_send(struct __test_metadata *_metadata,
			     struct peer *p, const void *buf, size_t len)
{
	int err = peer_write(p, buf, len);

	ASSERT_EQ(0, err) TH_LOG("peer: send: %s", strerror(err));
}

#define PEER_SEND(p, ...) do {						\
	const uint8_t bytes_[] = { __VA_ARGS__ };			\
	peer_send(_metadata, (p), bytes_, sizeof(bytes_));		\
} while (0)

/* The client sends nothing for ms. */
static inline void peer_quiet(struct __test_metadata *_metadata,
			      struct peer *p, int ms)
{
	ssize_t n = peer_pkt(p, ms);

	if (n > 0)
		log_hex(_metadata, "unexpected packet", p->pkt, p->pkt_len, 0);
	ASSERT_EQ(-ETIMEDOUT, n);
}

/* The next packet is a PUBLISH with the given first byte: its id. */
static inline uint16_t peer_publish(struct __test_metadata *_metadata,
				    struct peer *p, uint8_t type)
{
	struct publish pub;

	peer_next(_metadata, p);
	ASSERT_TRUE(parse_publish(p->pkt, p->pkt_hdr, p->pkt_len, &pub))
		log_hex(_metadata, "not a PUBLISH", p->pkt, p->pkt_len, 0);
	ASSERT_EQ(type, pub.type);
	if (type & PUB_QOS(3))
		ASSERT_NE(0, pub.id) TH_LOG("packet identifier 0");
	return pub.id;
}

/* The peer sends a PUBLISH with a NUL-terminated topic and payload. */
static inline void peer_publish_str(struct __test_metadata *_metadata,
				    struct peer *p, uint8_t type,
				    const char *topic, uint16_t id,
				    const char *payload)
{
	uint8_t buf[512];
	size_t n;

	n = build_publish(buf, type, topic, strlen(topic), id, payload,
			  strlen(payload));
	peer_send(_metadata, p, buf, n);
}

/* The client closed TCP without sending anything (no DISCONNECT). */
static inline void peer_expect_silent_close(struct __test_metadata *_metadata,
					    struct peer *p)
{
	enum peer_closed how;
	uint8_t buf[64];
	size_t len;

	how = peer_until_closed(p, PEER_TIMEOUT_MS, buf, sizeof(buf), &len);
	EXPECT_EQ(0, (int)len)
		log_hex(_metadata, "sent before closing", buf, len, 0);
	ASSERT_NE(CLOSED_NOT, (int)how) TH_LOG("the client kept TCP open");
}

/* DISCONNECT, then FIN [MQTT-3.14.4-1], nothing after [MQTT-3.14.4-2]. */
static inline void peer_expect_disconnect(struct __test_metadata *_metadata,
					  struct peer *p)
{
	static const uint8_t disconnect[] = { DISCONNECT_BYTES };
	enum peer_closed how;
	uint8_t buf[64];
	size_t len;

	how = peer_until_closed(p, PEER_TIMEOUT_MS, buf, sizeof(buf), &len);
	expect_bytes(_metadata, disconnect, sizeof(disconnect), buf, len);
	ASSERT_EQ(CLOSED_EOF, (int)how);
}

/* ---------------------------------------------------------------------- */
/* The session: an AF_MQTT socket connected to the peer                    */
/* ---------------------------------------------------------------------- */

static inline int start_thread(pthread_t *t, void *(*fn)(void *), void *arg);

/* How a session's bytes travel. */
enum sess_transport {
	SESS_TCP,	/* the module's own TCP socket, connect() to an address */
	SESS_ATTACHED,	/* the test's TCP socket (MQTT_TRANSPORT_FD) */
	SESS_TLS12,	/* attached, TLS 1.2 over kTLS on both ends */
	SESS_TLS13,	/* attached, TLS 1.3 over kTLS on both ends */
};

struct sess {
	int fd;			/* the AF_MQTT socket under test */
	struct peer p;		/* the broker's end */
	int64_t connect_at;	/* when the peer saw the CONNECT */
	enum sess_transport transport;	/* SESS_TCP unless a variant says */
};

/*
 * A socket with the test timeouts (MQTT_ACK_TIMEOUT TEST_ACK_TIMEOUT_MS),
 * keepalive 0 (the timing tests set their own), client id "s1", and a
 * listener on the loopback address of family for it to connect to.
 */
static inline void sess_init(struct __test_metadata *_metadata,
			     struct sess *s, int family)
{
	int err;

	s->transport = SESS_TCP;
	s->fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	set_int(_metadata, s->fd, MQTT_ACK_TIMEOUT, TEST_ACK_TIMEOUT_MS);
	set_int(_metadata, s->fd, MQTT_KEEPALIVE, 0);
	set_str(_metadata, s->fd, MQTT_CLIENT_ID, "s1", 2);
	err = peer_listen(&s->p, family);
	ASSERT_EQ(0, err) TH_LOG("peer: listen: %s", strerror(err));
}

/* A file of the VM's TLS material (guest-init.sh makes it); the paths
 * of the last 16 calls stay valid.
 */
static inline const char *tls_file(const char *name)
{
	static char path[16][256];
	static unsigned int next;
	const char *dir = getenv("MQTT_TLS_DIR");
	char *buf = path[next++ % 16];

	snprintf(buf, sizeof(path[0]), "%s/%s", dir ? dir : "/nonexistent",
		 name);
	return buf;
}

/* The peer's side of a TLS handshake, in a thread of its own. */
struct tls_server {
	struct peer *p;
	struct ktls_opts o;
	int err;
	char msg[256];
};

static inline void *tls_server_main(void *arg)
{
	struct tls_server *t = arg;
	SSL_CTX *ctx = ktls_ctx_new(&t->o, t->msg, sizeof(t->msg));
	SSL *ssl = ctx ? ktls_handshake(ctx, t->p->pfd, &t->o, t->msg,
					sizeof(t->msg)) : NULL;

	t->err = !ssl || ktls_enable(ssl, t->p->pfd, true, t->msg,
				     sizeof(t->msg));
	ktls_ssl_free(ssl);
	SSL_CTX_free(ctx);
	return NULL;
}

/* The peer's TLS server with the VM's broker certificate. */
static inline struct ktls_opts tls_server_opts(int version)
{
	struct ktls_opts o = {
		.cert_file = tls_file("server.crt"),
		.key_file = tls_file("server.key"),
		.min_version = version,
		.max_version = version,
		.server = true,
	};

	return o;
}

/*
 * A TCP connection of the test to the peer, accepted; with TLS (version
 * non-zero) done on both ends and kTLS on both: the client's fd.
 * Each end's TLS is as o (the client's) and srv (the peer's) say.
 */
static inline int peer_pair(struct __test_metadata *_metadata, struct peer *p,
			    const struct ktls_opts *o,
			    const struct ktls_opts *srv)
{
	struct tls_server t = { .p = p };
	char msg[256] = "";
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	pthread_t th;
	int fd, err;

	fd = socket(p->addr.sa.sa_family, SOCK_STREAM, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, connect(fd, &p->addr.sa, p->alen))
		TH_LOG("connect to the peer: %s", strerror(errno));
	err = peer_accept(p);
	ASSERT_EQ(0, err) TH_LOG("peer: accept: %s", strerror(err));
	if (!o)
		return fd;

	t.o = *srv;
	ASSERT_EQ(0, start_thread(&th, tls_server_main, &t));
	ctx = ktls_ctx_new(o, msg, sizeof(msg));
	if (ctx)
		ssl = ktls_handshake(ctx, fd, o, msg, sizeof(msg));
	err = !ssl || ktls_enable(ssl, fd, true, msg, sizeof(msg));
	ktls_ssl_free(ssl);
	SSL_CTX_free(ctx);
	if (err)
		shutdown(fd, SHUT_RDWR);	/* end the peer's handshake */
	pthread_join(th, NULL);
	ASSERT_EQ(0, err) TH_LOG("TLS client: %s", msg);
	ASSERT_EQ(0, t.err) TH_LOG("TLS peer: %s", t.msg);
	p->tls = true;
	return fd;
}

/* The client's TLS for the peer of a session variant. */
static inline struct ktls_opts tls_client_opts(int version)
{
	struct ktls_opts o = {
		.ca_file = tls_file("ca.crt"),
		.peer_name = "localhost",
		.min_version = version,
		.max_version = version,
		/* One cipher per version here; tls.c tries them all. */
		.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256",
		.suites = "TLS_AES_256_GCM_SHA384",
	};

	return o;
}

/* Attach a connection of the test to the peer, as s->transport says. */
static inline void sess_attach(struct __test_metadata *_metadata,
			       struct sess *s)
{
	int version = s->transport == SESS_TLS12 ? TLS1_2_VERSION :
		      TLS1_3_VERSION;
	struct ktls_opts o = tls_client_opts(version);
	struct ktls_opts srv = tls_server_opts(version);
	int fd;

	fd = peer_pair(_metadata, &s->p,
		       s->transport == SESS_ATTACHED ? NULL : &o, &srv);
	ASSERT_EQ(0, setsockopt(s->fd, SOL_MQTT, MQTT_TRANSPORT_FD, &fd,
				sizeof(fd)))
		TH_LOG("MQTT_TRANSPORT_FD: %s", strerror(errno));
	/* The module holds its own reference. */
	close(fd);
}

/* Non-blocking connect (over s->transport), CONNECT read, CONNACK 0,
 * connected; flags kept.
 */
static inline void sess_connect(struct __test_metadata *_metadata,
				struct sess *s)
{
	int flags = fcntl(s->fd, F_GETFL);
	int err;

	ASSERT_LE(0, flags);
	if (s->transport != SESS_TCP)
		sess_attach(_metadata, s);
	ASSERT_EQ(0, fcntl(s->fd, F_SETFL, flags | O_NONBLOCK));
	if (s->transport == SESS_TCP) {
		ASSERT_EQ(EINPROGRESS, peer_connect(s->fd, &s->p));
	} else {
		ASSERT_EQ(EINPROGRESS, connect_errno(s->fd, NULL, 0));
	}
	err = peer_handshake(&s->p, true);
	ASSERT_EQ(0, err) TH_LOG("peer: CONNECT/CONNACK: %s", strerror(err));
	s->connect_at = s->p.pkt_at;
	ASSERT_EQ(POLLOUT, poll_fd(_metadata, s->fd, POLLOUT,
				   PEER_TIMEOUT_MS) &
			   (POLLOUT | POLLERR | POLLHUP));
	ASSERT_EQ(0, so_error(_metadata, s->fd));
	ASSERT_EQ(0, fcntl(s->fd, F_SETFL, flags));
}

static inline void sess_up(struct __test_metadata *_metadata, struct sess *s,
			   int family)
{
	sess_init(_metadata, s, family);
	sess_connect(_metadata, s);
}

static inline void sess_fini(struct sess *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	peer_close(&s->p);
}

/* ---------------------------------------------------------------------- */
/* Threads and signals                                                     */
/* ---------------------------------------------------------------------- */

/* pthread_create() of a thread that blocks every signal: the test's. */
static inline int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* A call that blocks until the peer answers, run in a helper thread. */
struct async;
typedef ssize_t (*async_fn)(struct async *a);

struct async {
	async_fn fn;
	int fd;
	int level, name;		/* setsockopt */
	const void *buf;		/* setsockopt value, send payload, */
	size_t len;			/* connect address */
	int flags;			/* send and recv flags */

	ssize_t ret;			/* the call's return value */
	int err;			/* its errno */
	int64_t start, end;		/* when it was called and returned */

	pthread_t thread;
	int done[2];			/* pipe: the call returned */
	bool started;
};

static inline void *async_main(void *arg)
{
	struct async *a = arg;

	a->start = now_ms();
	a->ret = a->fn(a);
	a->err = a->ret < 0 ? errno : 0;
	a->end = now_ms();
	if (write(a->done[1], "d", 1) != 1)
		a->err = EPIPE;
	return NULL;
}

static inline ssize_t do_setsockopt(struct async *a)
{
	return setsockopt(a->fd, a->level, a->name, a->buf, a->len);
}

static inline ssize_t do_connect(struct async *a)
{
	return connect(a->fd, a->buf, a->len);
}

static inline ssize_t do_send(struct async *a)
{
	return send(a->fd, a->buf, a->len, a->flags);
}

static inline ssize_t do_recv(struct async *a)
{
	char buf[64];

	return recv(a->fd, buf, sizeof(buf), a->flags);
}

static inline ssize_t do_close(struct async *a)
{
	return close(a->fd);
}

/* Run a->fn in a thread that blocks every signal. */
static inline void async_start(struct __test_metadata *_metadata,
			       struct async *a)
{
	ASSERT_EQ(0, pipe(a->done));
	ASSERT_EQ(0, start_thread(&a->thread, async_main, a));
	a->started = true;
}

/* Has the call returned within ms?  If so, the thread is joined. */
static inline bool async_done(struct async *a, int ms)
{
	char token;

	if (!a->started)
		return true;
	if (!wait_readable(a->done[0], ms))
		return false;
	if (read(a->done[0], &token, 1) != 1)
		return false;
	pthread_join(a->thread, NULL);
	close(a->done[0]);
	close(a->done[1]);
	a->started = false;
	return true;
}

/* The call must return within the peer timeout. */
static inline void async_join(struct __test_metadata *_metadata,
			      struct async *a)
{
	ASSERT_TRUE(async_done(a, PEER_TIMEOUT_MS))
		TH_LOG("the blocking call never returned");
}

/* setsockopt(SOL_MQTT, name) in a thread. */
static inline void async_setsockopt(struct __test_metadata *_metadata,
				    struct async *a, int fd, int name,
				    const void *buf, size_t len)
{
	a->fn = do_setsockopt;
	a->fd = fd;
	a->level = SOL_MQTT;
	a->name = name;
	a->buf = buf;
	a->len = len;
	async_start(_metadata, a);
}

/*
 * Signals counted by count_signal(); with signals_left > 0 the timer of
 * signal_ticks() stops itself after that many.
 */
static volatile sig_atomic_t signals_caught, signals_left;

static inline void count_signal(int sig)
{
	static const struct itimerval off;

	(void)sig;
	signals_caught++;
	if (signals_left > 0 && --signals_left == 0)
		setitimer(ITIMER_REAL, &off, NULL);
}

/* SIGALRM every interval_ms, count times (0: until called with 0, 0). */
static inline void signal_ticks(int interval_ms, int count)
{
	struct itimerval tick = {
		.it_value.tv_sec = interval_ms / 1000,
		.it_value.tv_usec = interval_ms % 1000 * 1000,
	};

	tick.it_interval = tick.it_value;
	signals_left = count;
	setitimer(ITIMER_REAL, &tick, NULL);
}

#endif /* MQTT_PEER_H */
