// SPDX-License-Identifier: GPL-2.0
/*
 * kTLS under the session: what the transport needs to know of a TCP
 * socket the application attached with kTLS already on it.
 *
 * The application did the TLS handshake and enabled kTLS both ways
 * (TLS_TX and TLS_RX), so the records are sealed and opened by the
 * kernel's tls module; what is left here is what kTLS leaves to its
 * reader:
 *
 * - reading records, not bytes: kTLS's recvmsg() returns the plaintext
 *   of application data records, and refuses to hand out any other
 *   record without a control buffer to say its type (TLS 1.3 hides the
 *   type inside the record, so only kTLS can tell).  6.1's kTLS has no
 *   read_sock at all, newer ones one that stops at the first non-data
 *   record, so every kernel is read the same way: recvmsg() with a
 *   control buffer, one record type per call.
 * - records other than data: alerts end the session with an errno of
 *   their own (close_notify is the orderly end of the stream), TLS 1.3
 *   NewSessionTicket and TLS 1.2 HelloRequest are ignored, a KeyUpdate
 *   ends the session: the new key is the application's to derive and no
 *   kernel lets us ask it for one.  Handshake messages are parsed as
 *   such, since several may share a record and one may span records or
 *   reads (struct mqtt_tls_rx).
 * - our close_notify, before the TCP FIN of an orderly end.
 *
 * Below the transport, which alone calls this file; the little state a
 * connection needs is the transport's (struct mqtt_tls_rx).  The caller
 * holds the AF_MQTT socket lock; kTLS takes the TCP socket's own.
 */
#include <linux/net.h>
#include <linux/socket.h>
#include <linux/tcp.h>
#include <linux/uio.h>
#include <net/inet_connection_sock.h>
#include <net/sock.h>
#include <net/tls.h>
#include <linux/tls.h>

#include "mqtt.h"

/* The record types of TLS (RFC 8446 5.1), as kTLS reports them. */
#define MQTT_TLS_ALERT_REC	21
#define MQTT_TLS_HANDSHAKE_REC	22
#define MQTT_TLS_DATA_REC	23

/* Alert levels and the descriptions that name our certificate's fate
 * (RFC 5246 7.2, RFC 8446 6).
 */
#define MQTT_TLS_WARNING		1
#define MQTT_TLS_FATAL			2
#define MQTT_TLS_CLOSE_NOTIFY		0
#define MQTT_TLS_BAD_CERTIFICATE	42
#define MQTT_TLS_CERTIFICATE_UNKNOWN	46
#define MQTT_TLS_UNKNOWN_CA		48
#define MQTT_TLS_ACCESS_DENIED		49
#define MQTT_TLS_CERTIFICATE_REQUIRED	116
#define MQTT_TLS_ALERT_SIZE		2

/* Handshake message types that may follow the handshake (RFC 8446 4). */
#define MQTT_TLS_HELLO_REQUEST		0
#define MQTT_TLS_NEW_SESSION_TICKET	4
#define MQTT_TLS_KEY_UPDATE		24

/* The ULP kTLS registers. */
#define MQTT_TLS_ULP_NAME	"tls"

/**
 * mqtt_tls_probe() - is a TCP socket plain, or kTLS both ways
 * @tsk: the TCP socket, locked
 * @overhead: set, for kTLS, to the bytes a record adds to its plaintext
 *
 * Return: 0 for plain TCP, 1 for kTLS with TLS_TX and TLS_RX set,
 * -EINVAL for kTLS one way only (the session needs both) or another ULP.
 */
int mqtt_tls_probe(struct sock *tsk, u16 *overhead)
{
	const struct tcp_ulp_ops *ulp = inet_csk(tsk)->icsk_ulp_ops;
	const struct tls_context *ctx;

	sock_owned_by_me(tsk);
	if (!ulp)
		return 0;
	if (strcmp(ulp->name, MQTT_TLS_ULP_NAME))
		return -EINVAL;
	ctx = tls_get_ctx(tsk);
	if (ctx->tx_conf == TLS_BASE || ctx->rx_conf == TLS_BASE)
		return -EINVAL;
	*overhead = ctx->prot_info.overhead_size;
	return 1;
}

/**
 * mqtt_tls_recv() - read the plaintext of records of one type
 * @sock: the TCP socket, kTLS both ways
 * @buf: where to put it
 * @len: room in @buf
 * @type: set to the record type
 *
 * Return: bytes read, 0 at end of stream, -EAGAIN when no whole record
 * is there, else -errno (-EBADMSG: a record did not decrypt).
 */
int mqtt_tls_recv(struct socket *sock, void *buf, size_t len, u8 *type)
{
	u8 cbuf[CMSG_SPACE(sizeof(*type))] __aligned(sizeof(size_t));
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	int n;

	n = kernel_recvmsg(sock, &msg, &iov, 1, len, MSG_DONTWAIT);
	if (n <= 0)
		return n;
	/* kTLS puts the type first, for every record. */
	cmsg = (struct cmsghdr *)cbuf;
	if (msg.msg_controllen == sizeof(cbuf) || cmsg->cmsg_level != SOL_TLS ||
	    cmsg->cmsg_type != TLS_GET_RECORD_TYPE)
		return -EPROTO;
	*type = *(u8 *)CMSG_DATA(cmsg);
	return n;
}

/* An alert: 1 for close_notify, 0 for a warning to ignore, else the
 * errno that ends the session.
 */
static int mqtt_tls_alert(const u8 *rec, int len, u16 *alert)
{
	u8 level, desc;

	if (len != MQTT_TLS_ALERT_SIZE)
		return -EPROTO;
	level = rec[0];
	desc = rec[1];
	*alert = level << 8 | desc;
	if (desc == MQTT_TLS_CLOSE_NOTIFY)
		return 1;
	/* TLS 1.2 warnings; TLS 1.3 sends every other alert as fatal. */
	if (level == MQTT_TLS_WARNING)
		return 0;
	switch (desc) {
	case MQTT_TLS_CERTIFICATE_REQUIRED:
		return -ENOKEY;
	case MQTT_TLS_BAD_CERTIFICATE ... MQTT_TLS_CERTIFICATE_UNKNOWN:
	case MQTT_TLS_UNKNOWN_CA:
	case MQTT_TLS_ACCESS_DENIED:
		return -EKEYREVOKED;
	default:
		return -EREMOTEIO;
	}
}

/* One handshake message after the handshake: 0 to ignore it, else the
 * -errno that ends the session.
 */
static int mqtt_tls_handshake_msg(u8 type)
{
	switch (type) {
	case MQTT_TLS_HELLO_REQUEST:	/* TLS 1.2: we never renegotiate */
	case MQTT_TLS_NEW_SESSION_TICKET:
		return 0;
	case MQTT_TLS_KEY_UPDATE:
		return -EKEYEXPIRED;
	default:
		return -EPROTO;
	}
}

/* Handshake records: messages (a type, a 24-bit length, the body) may
 * share a record or span several, and a read may end anywhere in one.
 * Return: 0 to go on reading, else -errno.
 */
static int mqtt_tls_handshake(struct mqtt_tls_rx *st, const u8 *rec, int len)
{
	int err;

	while (len) {
		u32 take;

		if (st->hs_skip) {
			take = min_t(u32, st->hs_skip, len);
			st->hs_skip -= take;
			rec += take;
			len -= take;
			continue;
		}
		st->hs_hdr[st->hs_hdr_len++] = *rec++;
		len--;
		if (st->hs_hdr_len < MQTT_TLS_HS_HDR_SIZE)
			continue;
		st->hs_hdr_len = 0;
		err = mqtt_tls_handshake_msg(st->hs_hdr[0]);
		if (err)
			return err;
		st->hs_skip = get_unaligned_be24(&st->hs_hdr[1]);
	}
	return 0;
}

/**
 * mqtt_tls_control() - what a record other than data means
 * @st: the connection's state of handshake messages read in part
 * @type: its record type
 * @rec: its plaintext, or what of it this read got
 * @len: its length
 * @alert: set to (level << 8) | description for an alert
 *
 * Return: 0 to go on reading, 1 at close_notify (the end of the
 * stream), else the -errno that ends the session.
 */
int mqtt_tls_control(struct mqtt_tls_rx *st, u8 type, const u8 *rec, int len,
		     u16 *alert)
{
	switch (type) {
	case MQTT_TLS_ALERT_REC:
		return mqtt_tls_alert(rec, len, alert);
	case MQTT_TLS_HANDSHAKE_REC:
		return mqtt_tls_handshake(st, rec, len);
	default:
		return -EPROTO;
	}
}

/**
 * mqtt_tls_is_data() - is a record type application data
 * @type: the record type
 *
 * Return: true for application data.
 */
bool mqtt_tls_is_data(u8 type)
{
	return type == MQTT_TLS_DATA_REC;
}

/**
 * mqtt_tls_close_notify() - send our close_notify alert
 * @sock: the TCP socket, kTLS both ways
 *
 * Return: 0 when kTLS took it, else -errno (the FIN ends the stream
 * anyway).
 */
int mqtt_tls_close_notify(struct socket *sock)
{
	u8 cbuf[CMSG_SPACE(sizeof(u8))] __aligned(sizeof(size_t)) = {};
	u8 rec[MQTT_TLS_ALERT_SIZE] = {
		MQTT_TLS_WARNING, MQTT_TLS_CLOSE_NOTIFY
	};
	struct kvec iov = { .iov_base = rec, .iov_len = sizeof(rec) };
	struct msghdr msg = {
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
		.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL,
	};
	struct cmsghdr *cmsg = (struct cmsghdr *)cbuf;
	int n;

	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(u8));
	*(u8 *)CMSG_DATA(cmsg) = MQTT_TLS_ALERT_REC;
	n = kernel_sendmsg(sock, &msg, &iov, 1, sizeof(rec));
	return n < 0 ? n : 0;
}
