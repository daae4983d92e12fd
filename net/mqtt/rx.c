// SPDX-License-Identifier: GPL-2.0
/*
 * Receiving: packets from the broker after CONNACK, the acknowledgments
 * they call for, and the queue recvmsg() reads.
 *
 * mqtt_rx() walks TCP's receive queue with tcp_read_sock(), so a burst of
 * packets costs one pass under one TCP lock and no bounce copy of the
 * stream.  A packet may arrive in any number of pieces: the fixed header
 * is gathered a byte at a time, the body straight into its buffer.
 *
 * Below the session, which calls it and ends the session on its errors;
 * above tx.c (the acknowledgments it queues), flow.c and the transport.
 *
 * Back-pressure: a PUBLISH is taken from TCP only while the queue holds
 * less than SO_RCVBUF (an empty queue always takes one, up to
 * MQTT_RECV_MAX), and nothing is taken while more than SO_SNDBUF of
 * acknowledgments wait to go out.  Otherwise reading stops and TCP's
 * window closes on the broker; recvmsg() or the send queue draining
 * restarts it.  Nothing is ever dropped.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "mqtt.h"

/**
 * mqtt_rx_init() - an empty receive queue for a new socket
 * @msk: the socket, new
 */
void mqtt_rx_init(struct mqtt_sock *msk)
{
	INIT_LIST_HEAD(&msk->rxq);
}

/**
 * mqtt_rx_connack() - read the CONNACK into rx_hdr, never more
 * @msk: the socket, locked, CONNECTING, its TCP connection up
 *
 * Bytes after the CONNACK belong to the session: they stay in TCP.
 *
 * Return: 0 with @msk->connack filled, -EAGAIN to wait, else -errno.
 */
int mqtt_rx_connack(struct mqtt_sock *msk)
{
	BUILD_BUG_ON(sizeof(msk->rx_hdr) < MQTT_CONNACK_SIZE);

	mqtt_lock_held(msk);
	for (;;) {
		int n, err;

		err = mqtt_decode_connack(msk->rx_hdr, msk->rx_hdr_len,
					  &msk->connack);
		if (err != -EAGAIN)
			return err;
		n = mqtt_transport_recv(msk, msk->rx_hdr + msk->rx_hdr_len,
					MQTT_CONNACK_SIZE - msk->rx_hdr_len);
		if (n < 0)
			return n;
		if (!n)		/* The broker closed before answering. */
			return -ECONNRESET;
		msk->rx_hdr_len += n;
	}
}

static u8 mqtt_rx_type(const struct mqtt_sock *msk)
{
	return msk->rx_hdr[0] >> MQTT_HDR_TYPE_SHIFT;
}

/* May the packet whose header is complete be taken from TCP now? */
static bool mqtt_rx_admit(const struct mqtt_sock *msk)
{
	const struct sock *sk = &msk->sk;

	if (mqtt_txq_bytes(msk) > READ_ONCE(sk->sk_sndbuf))
		return false;
	if (mqtt_rx_type(msk) != MQTT_PKT_PUBLISH || !msk->rx_queued)
		return true;
	return msk->rx_queued + msk->rx_remlen <= READ_ONCE(sk->sk_rcvbuf);
}

/* The fixed header is complete: is this a packet a client may get? */
static int mqtt_rx_check_header(const struct mqtt_sock *msk)
{
	if (!mqtt_client_flags_valid(msk->rx_hdr[0]))
		return -EPROTO;
	switch (mqtt_rx_type(msk)) {
	case MQTT_PKT_PUBLISH:
		return msk->rx_remlen > msk->conf.recv_max ? -EPROTO : 0;
	case MQTT_PKT_SUBACK:
		return msk->rx_remlen != MQTT_SUBACK_REMLEN ? -EPROTO : 0;
	case MQTT_PKT_PINGRESP:
		return msk->rx_remlen ? -EPROTO : 0;
	default:
		return msk->rx_remlen != MQTT_ACK_REMLEN ? -EPROTO : 0;
	}
}

static int mqtt_tx_ack(struct mqtt_sock *msk, u8 type, u16 pid)
{
	u8 pkt[MQTT_ACK_SIZE];

	return mqtt_tx_queue(msk, pkt, mqtt_encode_ack(pkt, type, pid));
}

static void mqtt_rxq_add(struct mqtt_sock *msk, struct mqtt_rx_msg *m)
{
	struct sock *sk = &msk->sk;

	/* After SHUT_RD, messages are acknowledged and dropped. */
	if (sk->sk_shutdown & RCV_SHUTDOWN) {
		kvfree(m);
		return;
	}
	list_add_tail(&m->list, &msk->rxq);
	WRITE_ONCE(msk->rx_queued, msk->rx_queued + m->size);
	sk->sk_data_ready(sk);
}

/* A whole PUBLISH: acknowledge it as its QoS asks, in arrival order
 * [MQTT-4.5.0-2], [MQTT-4.6.0-2..3], and queue it for recvmsg().
 */
static int mqtt_rx_publish(struct mqtt_sock *msk)
{
	struct mqtt_rx_msg *m = msk->rx_msg;
	struct mqtt_publish_info *pub = &m->pub;
	int err;

	msk->rx_msg = NULL;
	err = mqtt_decode_publish(m->body, msk->rx_remlen, msk->rx_hdr[0], pub);
	if (err)
		goto drop;

	switch (pub->qos) {
	case 1:
		err = mqtt_tx_ack(msk, MQTT_PKT_PUBACK, pub->pid);
		break;
	case 2:
		err = mqtt_flow_qos2_arrived(msk, pub->pid);
		/* Still awaiting PUBREL: a resend, delivered once already. */
		if (err > 0) {
			u16 pid = pub->pid;

			kvfree(m);
			return mqtt_tx_ack(msk, MQTT_PKT_PUBREC, pid);
		}
		if (!err)
			err = mqtt_tx_ack(msk, MQTT_PKT_PUBREC, pub->pid);
		break;
	}
	if (err)
		goto drop;
	mqtt_rxq_add(msk, m);
	return 0;

drop:
	kvfree(m);
	return err;
}

/* An acknowledgment: it must match a flow waiting for it [MQTT-4.8.0-1]. */
static int mqtt_rx_ack(struct mqtt_sock *msk, u8 type)
{
	struct mqtt_flow *flow;
	u16 pid;
	u8 code;

	if (mqtt_decode_ack(msk->rx_ctl, MQTT_ACK_REMLEN, &pid))
		return -EPROTO;
	flow = mqtt_flow_find(msk, pid);

	switch (type) {
	case MQTT_PKT_PUBREL:
		/* Unknown ids come from a resumed session: answer anyway. */
		mqtt_flow_qos2_released(msk, pid);
		return mqtt_tx_ack(msk, MQTT_PKT_PUBCOMP, pid);
	case MQTT_PKT_PUBACK:
		if (!flow || flow->kind != MQTT_FLOW_PUBACK)
			return -EPROTO;
		mqtt_flow_complete(msk, pid, 0);
		return 0;
	case MQTT_PKT_PUBREC:
		/* A repeated PUBREC asks for the PUBREL again (4.3.3). */
		if (!flow || (flow->kind != MQTT_FLOW_PUBREC &&
			      flow->kind != MQTT_FLOW_PUBCOMP))
			return -EPROTO;
		flow->kind = MQTT_FLOW_PUBCOMP;
		return mqtt_tx_ack(msk, MQTT_PKT_PUBREL, pid);
	case MQTT_PKT_PUBCOMP:
		if (!flow || flow->kind != MQTT_FLOW_PUBCOMP)
			return -EPROTO;
		mqtt_flow_complete(msk, pid, 0);
		return 0;
	case MQTT_PKT_UNSUBACK:
		if (!flow || flow->kind != MQTT_FLOW_UNSUBACK)
			return -EPROTO;
		mqtt_flow_sub_done(msk, flow, 0);
		return 0;
	case MQTT_PKT_SUBACK:
		code = msk->rx_ctl[MQTT_PID_SIZE];
		if (!flow || flow->kind != MQTT_FLOW_SUBACK ||
		    (code > MQTT_QOS_MAX && code != MQTT_SUBACK_FAILURE))
			return -EPROTO;
		mqtt_flow_sub_done(msk, flow, code);
		return 0;
	}
	return -EPROTO;
}

static int mqtt_rx_packet(struct mqtt_sock *msk)
{
	u8 type = mqtt_rx_type(msk);

	/* Any packet answers an outstanding PINGREQ. */
	WRITE_ONCE(msk->ping_outstanding, false);
	if (type == MQTT_PKT_PUBLISH)
		return mqtt_rx_publish(msk);
	if (type == MQTT_PKT_PINGRESP)
		return 0;
	return mqtt_rx_ack(msk, type);
}

/* Take bytes of the stream at @off of @skb into the packet being built.
 * Return: bytes used, 0 when receiving must pause, -errno on a violation.
 */
static int mqtt_rx_bytes(struct mqtt_sock *msk, struct sk_buff *skb,
			 unsigned int off, size_t avail)
{
	size_t used = 0, take;
	u8 *dst;
	int n;

	while (!msk->rx_body) {
		u8 byte1;

		/* Five bytes always decide, so rx_hdr cannot overflow. */
		n = mqtt_decode_fixed_header(msk->rx_hdr, msk->rx_hdr_len,
					     &byte1, &msk->rx_remlen);
		if (n > 0) {
			n = mqtt_rx_check_header(msk);
			if (n)
				return n;
			msk->rx_body = true;
			msk->rx_got = 0;
			break;
		}
		if (n != -EAGAIN || msk->rx_hdr_len == MQTT_FIXED_HDR_MAX)
			return -EPROTO;
		if (used == avail)
			return used;
		if (skb_copy_bits(skb, off + used,
				  &msk->rx_hdr[msk->rx_hdr_len], 1))
			return -EPROTO;
		msk->rx_hdr_len++;
		used++;
	}

	if (mqtt_rx_type(msk) == MQTT_PKT_PUBLISH && !msk->rx_msg) {
		struct mqtt_rx_msg *m;

		if (!mqtt_rx_admit(msk)) {
			msk->rx_blocked = true;
			return used;
		}
		m = kvmalloc(struct_size(m, body, msk->rx_remlen),
			     GFP_KERNEL_ACCOUNT);
		if (!m)
			return -ENOMEM;
		m->size = struct_size(m, body, msk->rx_remlen);
		msk->rx_msg = m;
	} else if (!msk->rx_got && !mqtt_rx_admit(msk)) {
		msk->rx_blocked = true;
		return used;
	}

	dst = msk->rx_msg ? msk->rx_msg->body : msk->rx_ctl;
	take = min_t(size_t, avail - used, msk->rx_remlen - msk->rx_got);
	if (take && skb_copy_bits(skb, off + used, dst + msk->rx_got, take))
		return -EPROTO;
	msk->rx_got += take;
	used += take;
	if (msk->rx_got < msk->rx_remlen)
		return used;

	n = mqtt_rx_packet(msk);
	msk->rx_hdr_len = 0;
	msk->rx_body = false;
	return n ? n : used;
}

/* tcp_read_sock() actor; desc->error carries a violation out. */
static int mqtt_rx_actor(read_descriptor_t *desc, struct sk_buff *skb,
			 unsigned int off, size_t len)
{
	struct mqtt_sock *msk = desc->arg.data;
	size_t used = 0;

	while (used < len) {
		int n = mqtt_rx_bytes(msk, skb, off + used, len - used);

		if (n <= 0) {
			desc->error = n;
			desc->count = 0;
			break;
		}
		used += n;
	}
	return used;
}

/**
 * mqtt_rx() - take what the broker sent, as far as the budget allows
 * @msk: the socket, locked, CONNECTED
 *
 * Acknowledgments are queued, not sent: the caller flushes them.
 *
 * Return: 0, or -EPROTO (or -ENOMEM) when the session must end.
 */
int mqtt_rx(struct mqtt_sock *msk)
{
	int n;

	mqtt_lock_held(msk);
	msk->rx_blocked = false;
	n = mqtt_transport_read(msk, mqtt_rx_actor);
	return n < 0 ? n : 0;
}

/**
 * mqtt_rx_purge() - drop received packets, whole and partial
 * @msk: the socket, locked or dying
 * @all: also the queue recvmsg() reads
 */
void mqtt_rx_purge(struct mqtt_sock *msk, bool all)
{
	struct mqtt_rx_msg *m, *tmp;

	mqtt_lock_held_or_dying(msk);
	kvfree(msk->rx_msg);
	msk->rx_msg = NULL;
	msk->rx_hdr_len = 0;
	msk->rx_body = false;
	mqtt_flow_qos2_forget(msk);
	if (!all)
		return;
	list_for_each_entry_safe(m, tmp, &msk->rxq, list) {
		list_del(&m->list);
		kvfree(m);
	}
	WRITE_ONCE(msk->rx_queued, 0);
}

static int mqtt_put_cmsg_int(struct msghdr *msg, int type, int val)
{
	return put_cmsg(msg, SOL_MQTT, type, sizeof(val), &val);
}

/**
 * mqtt_rx_recv() - copy out the first queued message, and dequeue it
 * @msk: the socket, locked, @rxq not empty
 * @msg: receives the payload, and SOL_MQTT cmsgs for topic, QoS, retain
 *	and DUP
 * @len: room for the payload
 * @flags: MSG_PEEK leaves the message queued; MSG_TRUNC returns its length
 *
 * Return: bytes copied (the whole payload's length with MSG_TRUNC), or
 * -errno with the message left queued.
 */
int mqtt_rx_recv(struct mqtt_sock *msk, struct msghdr *msg, size_t len,
		 int flags)
{
	struct mqtt_rx_msg *m;
	const struct mqtt_publish_info *pub;
	size_t copied;
	int err;

	mqtt_lock_held(msk);
	m = list_first_entry(&msk->rxq, struct mqtt_rx_msg, list);
	pub = &m->pub;
	copied = min_t(size_t, len, pub->payload_len);
	if (copy_to_iter(m->body + pub->payload_off, copied,
			 &msg->msg_iter) != copied)
		return -EFAULT;
	if (copied < pub->payload_len)
		msg->msg_flags |= MSG_TRUNC;
	msg->msg_flags |= MSG_EOR;

	err = put_cmsg(msg, SOL_MQTT, MQTT_PUBLISH_TOPIC, pub->topic_len,
		       (void *)(m->body + pub->topic_off));
	if (!err)
		err = mqtt_put_cmsg_int(msg, MQTT_PUBLISH_QOS, pub->qos);
	if (!err)
		err = mqtt_put_cmsg_int(msg, MQTT_PUBLISH_RETAIN, pub->retain);
	if (!err)
		err = mqtt_put_cmsg_int(msg, MQTT_PUBLISH_DUP, pub->dup);
	if (err)
		return err;
	if (flags & MSG_TRUNC)
		copied = pub->payload_len;
	if (!(flags & MSG_PEEK)) {
		list_del(&m->list);
		WRITE_ONCE(msk->rx_queued, msk->rx_queued - m->size);
		kvfree(m);
	}
	return copied;
}
