// SPDX-License-Identifier: GPL-2.0
/*
 * setsockopt(SOL_MQTT) and getsockopt(SOL_MQTT): the system calls, and
 * the wait of (UN)SUBSCRIBE for its acknowledgment.
 *
 * The connect options describe the next connect, so they change only
 * while the socket is UNCONNECTED; the session options (publish defaults,
 * window, reports, limits) change at any time.  The values themselves
 * are kept by config.c; (un)subscribing is the session's.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>

#include "mqtt.h"

/* Copy in and check a filter; the SUBSCRIBE header if @optname asks. */
static u8 *mqtt_sub_filter(int optname, sockptr_t optval, unsigned int optlen,
			   u32 *len, u8 *qos)
{
	struct mqtt_subscription sub;
	unsigned int off = 0;
	u8 *filter;

	if (optname == MQTT_SUBSCRIBE) {
		if (optlen < sizeof(sub))
			return ERR_PTR(-EINVAL);
		if (copy_from_sockptr(&sub, optval, sizeof(sub)))
			return ERR_PTR(-EFAULT);
		if (sub.reserved || sub.qos > MQTT_QOS_MAX ||
		    optlen != sizeof(sub) + sub.filter_len)
			return ERR_PTR(-EINVAL);
		off = sizeof(sub);
		*qos = sub.qos;
	}
	*len = optlen - off;
	if (!*len || *len > MQTT_MAX_FIELD_LEN)
		return ERR_PTR(-EINVAL);
	filter = kvmalloc(*len, GFP_KERNEL);
	if (!filter)
		return ERR_PTR(-ENOMEM);
	if (copy_from_sockptr_offset(filter, optval, off, *len)) {
		kvfree(filter);
		return ERR_PTR(-EFAULT);
	}
	if (!mqtt_topic_filter_valid(filter, *len)) {
		kvfree(filter);
		return ERR_PTR(-EINVAL);
	}
	return filter;
}

static bool mqtt_sub_acked(const struct mqtt_sock *msk, const void *flow)
{
	return ((const struct mqtt_flow *)flow)->done;
}

/* Wait at most MQTT_ACK_TIMEOUT for the (UN)SUBACK of @flow.
 * Return: its result, or -errno.
 */
static int mqtt_sub_wait(struct mqtt_sock *msk, struct mqtt_flow *flow)
{
	long timeo = msecs_to_jiffies(msk->conf.ack_timeout_ms);
	int err, result;

	err = mqtt_sock_wait(msk, &timeo, mqtt_sub_acked, flow, 0);
	if (mqtt_flow_sub_end(msk, flow, &result))
		return result;
	/* The ack may still come: its identifier stays in use until then. */
	return err == -EAGAIN ? -ETIMEDOUT : err;
}

/* setsockopt(MQTT_SUBSCRIBE or MQTT_UNSUBSCRIBE): send the request and
 * wait for its acknowledgment.  A granted QoS is written back to the
 * caller's struct mqtt_subscription.
 * Return: 0, -EACCES when the broker refused, or -errno.
 */
static int mqtt_sockopt_subscribe(struct mqtt_sock *msk, int optname,
				  sockptr_t optval, unsigned int optlen)
{
	bool sub = optname == MQTT_SUBSCRIBE;
	struct mqtt_flow *flow;
	u8 *filter;
	u8 qos = 0;
	u32 len;
	int err;

	/* Before the state check: a bad request is EINVAL whenever made. */
	filter = mqtt_sub_filter(optname, optval, optlen, &len, &qos);
	if (IS_ERR(filter))
		return PTR_ERR(filter);
	err = mqtt_session_subscribe(msk, sub, filter, len, qos, &flow);
	kvfree(filter);
	if (err)
		return err;
	err = mqtt_sub_wait(msk, flow);
	if (err == MQTT_SUBACK_FAILURE)
		return -EACCES;
	if (err < 0 || !sub)
		return err < 0 ? err : 0;
	/* Subscribed, whatever the copy says: the broker has it. */
	qos = err;
	if (copy_to_sockptr_offset(optval,
				   offsetof(struct mqtt_subscription, qos),
				   &qos, sizeof(qos)))
		return -EFAULT;
	return 0;
}

/* setsockopt(MQTT_TRANSPORT_FD): the socket the next connect() uses. */
static int mqtt_sockopt_transport(struct mqtt_sock *msk, sockptr_t optval,
				  unsigned int optlen)
{
	int fd;

	if (optlen != sizeof(fd))
		return -EINVAL;
	if (copy_from_sockptr(&fd, optval, sizeof(fd)))
		return -EFAULT;
	return mqtt_transport_attach_fd(msk, fd);
}

static int mqtt_setsockopt_locked(struct mqtt_sock *msk, int optname,
				  sockptr_t optval, unsigned int optlen)
{
	int err;

	if ((mqtt_config_connect_opt(optname) ||
	     optname == MQTT_TRANSPORT_FD) &&
	    mqtt_state(&msk->sk) != MQTT_UNCONNECTED)
		return -EISCONN;
	switch (optname) {
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return mqtt_sockopt_subscribe(msk, optname, optval, optlen);
	case MQTT_TRANSPORT_FD:
		return mqtt_sockopt_transport(msk, optval, optlen);
	case MQTT_CONNACK:
	case MQTT_INFLIGHT:
	case MQTT_TLS_ALERT:
		return -EOPNOTSUPP;	/* read-only */
	}

	err = mqtt_config_set(msk, optname, optval, optlen);
	if (!err && (optname == MQTT_INFLIGHT_MAX ||
		     optname == MQTT_DELIVERY_REPORTS)) {
		/* The window may have grown, or reports stopped holding it. */
		mqtt_flow_reports_retry(msk);
		mqtt_write_space(&msk->sk);
	}
	return err;
}

/**
 * mqtt_sockopt_set() - setsockopt(SOL_MQTT, ...)
 * @sock: the socket
 * @level: must be %SOL_MQTT
 * @optname: an MQTT_* option
 * @optval: the value: bytes for string options, an int for the others
 * @optlen: its length
 *
 * Return: 0, or -EISCONN once connect() was called, -EINVAL for a bad
 * value or length, -ENOPROTOOPT for an unknown option, -EFAULT, -ENOMEM;
 * MQTT_TRANSPORT_FD's own (mqtt_transport_attach_fd()).
 */
int mqtt_sockopt_set(struct socket *sock, int level, int optname,
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
	struct mqtt_field f;
	int val, ret;

	switch (optname) {
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
	case MQTT_TRANSPORT_FD:
		return -EOPNOTSUPP;	/* write-only */
	case MQTT_INFLIGHT:
		val = mqtt_inflight(msk);
		break;
	case MQTT_TLS_ALERT:
		if (!msk->tls_alert)
			return -ENODATA;
		val = msk->tls_alert;
		break;
	case MQTT_CONNACK:
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
	default:
		ret = mqtt_config_get(msk, optname, &val, &f);
		if (ret < 0)
			return ret;
		if (!ret)
			break;
		if (put_user(f.len, optlen))
			return -EFAULT;
		if ((u32)len < f.len)
			return -ERANGE;
		if (copy_to_user(optval, f.data, f.len))
			return -EFAULT;
		return 0;
	}
	if (len < sizeof(int))
		return -EINVAL;
	if (copy_to_user(optval, &val, sizeof(val)) ||
	    put_user(sizeof(val), optlen))
		return -EFAULT;
	return 0;
}

/**
 * mqtt_sockopt_get() - getsockopt(SOL_MQTT, ...)
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
int mqtt_sockopt_get(struct socket *sock, int level, int optname,
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
