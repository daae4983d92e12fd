// SPDX-License-Identifier: GPL-2.0
/*
 * SOL_MQTT options: validation, storage, and reading back.
 *
 * The connect options describe the next connect, so they change only
 * while the socket is UNCONNECTED; the session options (publish defaults,
 * window, reports, limits) change at any time.  A value that fails
 * validation leaves the old one in place.  The password is write-only and
 * zeroed whenever it is dropped.
 */
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>

#include "mqtt.h"

#define MQTT_DEFAULT_KEEPALIVE		60
#define MQTT_DEFAULT_CONNECT_TIMEOUT_MS	30000
#define MQTT_DEFAULT_ACK_TIMEOUT_MS	30000
#define MQTT_DEFAULT_INFLIGHT_MAX	64
/* A 1 MiB payload with a long topic fits. */
#define MQTT_DEFAULT_RECV_MAX		(2 << 20)

/* What a string or binary option must contain. */
enum mqtt_field_kind {
	MQTT_KIND_UTF8,		/* UTF-8 string, may be empty */
	MQTT_KIND_TOPIC,	/* topic name: UTF-8, not empty, no wildcards */
	MQTT_KIND_BINARY,	/* any bytes */
	MQTT_KIND_SECRET,	/* any bytes, never read back, zeroed on free */
};

/* The range of each integer option; max == 0 marks a non-integer one. */
static const struct {
	int min;
	int max;
} mqtt_int_range[] = {
	[MQTT_KEEPALIVE]	= { 0, U16_MAX },
	[MQTT_CLEAN_SESSION]	= { 0, 1 },
	[MQTT_WILL_QOS]		= { 0, MQTT_QOS_MAX },
	[MQTT_WILL_RETAIN]	= { 0, 1 },
	[MQTT_PROTOCOL_LEVEL]	= { MQTT_PROTOCOL_V31, MQTT_PROTOCOL_V311 },
	[MQTT_CONNECT_TIMEOUT]	= { 1, INT_MAX },
	[MQTT_PUBLISH_QOS]	= { 0, MQTT_QOS_MAX },
	[MQTT_PUBLISH_RETAIN]	= { 0, 1 },
	[MQTT_INFLIGHT_MAX]	= { 1, MQTT_PID_MAX },
	[MQTT_DELIVERY_REPORTS]	= { 0, 1 },
	[MQTT_ACK_TIMEOUT]	= { 1, INT_MAX },
	[MQTT_RECV_MAX]		= { 1, MQTT_REMLEN_MAX },
};

/* Options that shape the next CONNECT: fixed once connect() is called. */
static bool mqtt_is_connect_opt(int optname)
{
	return optname >= MQTT_CLIENT_ID && optname <= MQTT_CONNECT_TIMEOUT;
}

static bool mqtt_is_int_opt(int optname)
{
	return optname >= 0 && optname < ARRAY_SIZE(mqtt_int_range) &&
	       mqtt_int_range[optname].max;
}

static struct mqtt_bytes **mqtt_bytes_opt(struct mqtt_config *c, int optname,
					  enum mqtt_field_kind *kind)
{
	switch (optname) {
	case MQTT_CLIENT_ID:
		*kind = MQTT_KIND_UTF8;
		return &c->client_id;
	case MQTT_USERNAME:
		*kind = MQTT_KIND_UTF8;
		return &c->username;
	case MQTT_PASSWORD:
		*kind = MQTT_KIND_SECRET;
		return &c->password;
	case MQTT_WILL_TOPIC:
		*kind = MQTT_KIND_TOPIC;
		return &c->will_topic;
	case MQTT_WILL_MESSAGE:
		*kind = MQTT_KIND_BINARY;
		return &c->will_message;
	case MQTT_PUBLISH_TOPIC:
		*kind = MQTT_KIND_TOPIC;
		return &c->publish_topic;
	default:
		return NULL;
	}
}

static void mqtt_bytes_free(struct mqtt_bytes **field)
{
	struct mqtt_bytes *b = *field;

	/* Cheap enough to do for every field; the password needs it. */
	if (b)
		kvfree_sensitive(b, struct_size(b, data, b->len));
	*field = NULL;
}

static bool mqtt_bytes_valid(enum mqtt_field_kind kind, const u8 *s, u32 len)
{
	switch (kind) {
	case MQTT_KIND_UTF8:
		return mqtt_utf8_valid(s, len);
	case MQTT_KIND_TOPIC:
		return mqtt_topic_name_valid(s, len);
	default:
		return true;
	}
}

static int mqtt_set_bytes(struct mqtt_bytes **field,
			  enum mqtt_field_kind kind, sockptr_t optval,
			  unsigned int optlen)
{
	struct mqtt_bytes *new;

	if (optlen > MQTT_MAX_FIELD_LEN)
		return -EINVAL;
	new = kvmalloc(struct_size(new, data, optlen), GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;
	new->len = optlen;
	if (copy_from_sockptr(new->data, optval, optlen)) {
		mqtt_bytes_free(&new);
		return -EFAULT;
	}
	if (!mqtt_bytes_valid(kind, new->data, new->len)) {
		mqtt_bytes_free(&new);
		return -EINVAL;
	}
	mqtt_bytes_free(field);
	*field = new;
	return 0;
}

static void mqtt_set_int(struct mqtt_config *c, int optname, int val)
{
	switch (optname) {
	case MQTT_KEEPALIVE:
		c->keepalive = val;
		break;
	case MQTT_CLEAN_SESSION:
		c->clean_session = val;
		break;
	case MQTT_WILL_QOS:
		c->will_qos = val;
		break;
	case MQTT_WILL_RETAIN:
		c->will_retain = val;
		break;
	case MQTT_PROTOCOL_LEVEL:
		c->level = val;
		break;
	case MQTT_CONNECT_TIMEOUT:
		c->connect_timeout_ms = val;
		break;
	case MQTT_PUBLISH_QOS:
		c->publish_qos = val;
		break;
	case MQTT_PUBLISH_RETAIN:
		c->publish_retain = val;
		break;
	case MQTT_INFLIGHT_MAX:
		WRITE_ONCE(c->inflight_max, val);
		break;
	case MQTT_DELIVERY_REPORTS:
		c->delivery_reports = val;
		break;
	case MQTT_ACK_TIMEOUT:
		c->ack_timeout_ms = val;
		break;
	case MQTT_RECV_MAX:
		c->recv_max = val;
		break;
	}
}

static int mqtt_get_int(const struct mqtt_config *c, int optname)
{
	switch (optname) {
	case MQTT_KEEPALIVE:
		return c->keepalive;
	case MQTT_CLEAN_SESSION:
		return c->clean_session;
	case MQTT_WILL_QOS:
		return c->will_qos;
	case MQTT_WILL_RETAIN:
		return c->will_retain;
	case MQTT_PROTOCOL_LEVEL:
		return c->level;
	case MQTT_CONNECT_TIMEOUT:
		return c->connect_timeout_ms;
	case MQTT_PUBLISH_QOS:
		return c->publish_qos;
	case MQTT_PUBLISH_RETAIN:
		return c->publish_retain;
	case MQTT_INFLIGHT_MAX:
		return c->inflight_max;
	case MQTT_DELIVERY_REPORTS:
		return c->delivery_reports;
	case MQTT_ACK_TIMEOUT:
		return c->ack_timeout_ms;
	case MQTT_RECV_MAX:
		return c->recv_max;
	}
	return 0;
}

/**
 * mqtt_config_init() - the defaults of a new socket
 * @conf: the configuration to fill
 */
void mqtt_config_init(struct mqtt_config *conf)
{
	*conf = (struct mqtt_config) {
		.keepalive = MQTT_DEFAULT_KEEPALIVE,
		.clean_session = true,
		.level = MQTT_PROTOCOL_V311,
		.connect_timeout_ms = MQTT_DEFAULT_CONNECT_TIMEOUT_MS,
		.ack_timeout_ms = MQTT_DEFAULT_ACK_TIMEOUT_MS,
		.inflight_max = MQTT_DEFAULT_INFLIGHT_MAX,
		.recv_max = MQTT_DEFAULT_RECV_MAX,
	};
}

/**
 * mqtt_config_free() - free every option, zeroing them
 * @conf: the configuration
 */
void mqtt_config_free(struct mqtt_config *conf)
{
	mqtt_bytes_free(&conf->client_id);
	mqtt_bytes_free(&conf->username);
	mqtt_bytes_free(&conf->password);
	mqtt_bytes_free(&conf->will_topic);
	mqtt_bytes_free(&conf->will_message);
	mqtt_bytes_free(&conf->publish_topic);
}

static int mqtt_setsockopt_locked(struct mqtt_sock *msk, int optname,
				  sockptr_t optval, unsigned int optlen)
{
	struct mqtt_config *c = &msk->conf;
	enum mqtt_field_kind kind;
	struct mqtt_bytes **field;
	int val;

	if (mqtt_is_connect_opt(optname) &&
	    mqtt_state(&msk->sk) != MQTT_UNCONNECTED)
		return -EISCONN;
	switch (optname) {
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return mqtt_subscribe(msk, optname, optval, optlen);
	case MQTT_CONNACK:
	case MQTT_INFLIGHT:
		return -EOPNOTSUPP;	/* read-only */
	}

	field = mqtt_bytes_opt(c, optname, &kind);
	if (field)
		return mqtt_set_bytes(field, kind, optval, optlen);
	if (!mqtt_is_int_opt(optname))
		return -ENOPROTOOPT;
	if (optlen < sizeof(int))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	if (val < mqtt_int_range[optname].min ||
	    val > mqtt_int_range[optname].max)
		return -EINVAL;
	mqtt_set_int(c, optname, val);
	if (optname == MQTT_INFLIGHT_MAX || optname == MQTT_DELIVERY_REPORTS) {
		/* The window may have grown, or reports stopped holding it. */
		mqtt_reports_retry(msk);
		mqtt_write_space(&msk->sk);
	}
	return 0;
}

/**
 * mqtt_setsockopt() - setsockopt(SOL_MQTT, ...)
 * @sock: the socket
 * @level: must be %SOL_MQTT
 * @optname: an MQTT_* option
 * @optval: the value: bytes for string options, an int for the others
 * @optlen: its length
 *
 * Return: 0, or -EISCONN once connect() was called, -EINVAL for a bad
 * value or length, -ENOPROTOOPT for an unknown option, -EFAULT, -ENOMEM.
 */
int mqtt_setsockopt(struct socket *sock, int level, int optname,
		    sockptr_t optval, unsigned int optlen)
{
	struct sock *sk = sock->sk;
	int err;

	if (level != SOL_MQTT)
		return -ENOPROTOOPT;
	lock_sock(sk);
	err = mqtt_setsockopt_locked(mqtt_sk(sk), optname, optval, optlen);
	release_sock(sk);
	return err;
}

static int mqtt_getsockopt_locked(struct mqtt_sock *msk, int optname,
				  char __user *optval, int __user *optlen,
				  int len)
{
	struct mqtt_connack connack = {};
	enum mqtt_field_kind kind;
	struct mqtt_bytes **field, *b;
	int val;

	field = mqtt_bytes_opt(&msk->conf, optname, &kind);
	if (field) {
		if (kind == MQTT_KIND_SECRET)
			return -EOPNOTSUPP;
		b = *field;
		if (put_user(b ? b->len : 0, optlen))
			return -EFAULT;
		if (b && (u32)len < b->len)
			return -ERANGE;
		if (b && copy_to_user(optval, b->data, b->len))
			return -EFAULT;
		return 0;
	}
	switch (optname) {
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return -EOPNOTSUPP;	/* write-only */
	case MQTT_INFLIGHT:
		val = msk->inflight;
		goto put_int;
	}
	if (optname == MQTT_CONNACK) {
		if (!msk->connack_valid)
			return -ENOTCONN;
		if (len < sizeof(connack))
			return -EINVAL;
		connack.session_present = msk->connack.session_present;
		connack.return_code = msk->connack.return_code;
		if (copy_to_user(optval, &connack, sizeof(connack)) ||
		    put_user(sizeof(connack), optlen))
			return -EFAULT;
		return 0;
	}
	if (!mqtt_is_int_opt(optname))
		return -ENOPROTOOPT;
	val = mqtt_get_int(&msk->conf, optname);
put_int:
	if (len < sizeof(int))
		return -EINVAL;
	if (copy_to_user(optval, &val, sizeof(val)) ||
	    put_user(sizeof(val), optlen))
		return -EFAULT;
	return 0;
}

/**
 * mqtt_getsockopt() - getsockopt(SOL_MQTT, ...)
 * @sock: the socket
 * @level: must be %SOL_MQTT
 * @optname: an MQTT_* option
 * @optval: user buffer
 * @optlen: in: its size; out: the value's size
 *
 * A string option larger than the buffer fails with -ERANGE, with
 * *@optlen set to the size needed.
 *
 * Return: 0 or -errno.
 */
int mqtt_getsockopt(struct socket *sock, int level, int optname,
		    char __user *optval, int __user *optlen)
{
	struct sock *sk = sock->sk;
	int len, err;

	if (level != SOL_MQTT)
		return -ENOPROTOOPT;
	if (get_user(len, optlen))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	lock_sock(sk);
	err = mqtt_getsockopt_locked(mqtt_sk(sk), optname, optval, optlen, len);
	release_sock(sk);
	return err;
}
