// SPDX-License-Identifier: GPL-2.0
/*
 * Sending: the queue of bytes TCP has not taken yet, and the framing of
 * PUBLISH for send().
 *
 * Bytes reach TCP in packet order: a packet goes straight to TCP only
 * when nothing is queued before it, and whatever TCP does not take of it
 * is copied to the queue, which mqtt_tx_flush() empties as TCP makes
 * room.  So a packet is never left half on the wire.
 *
 * Below the session and rx.c, above flow.c and the transport.  Errors are
 * returned: the session decides what ends.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "mqtt.h"

/* Room of a queue buffer for small packets, so acks share buffers. */
#define MQTT_TXBUF_MIN		256

/**
 * mqtt_tx_init() - an empty send queue for a new socket
 * @msk: the socket, new
 */
void mqtt_tx_init(struct mqtt_sock *msk)
{
	INIT_LIST_HEAD(&msk->txq);
}

/**
 * mqtt_tx_ready() - would a PUBLISH of any QoS go out without waiting
 * @msk: the socket; lockless, for poll
 *
 * Return: true when nothing is queued and the window has room.
 */
bool mqtt_tx_ready(const struct mqtt_sock *msk)
{
	return !mqtt_txq_bytes(msk) &&
	       mqtt_window_used(msk) < READ_ONCE(msk->conf.inflight_max);
}

static struct mqtt_txbuf *mqtt_txbuf_new(struct mqtt_sock *msk, size_t room)
{
	struct mqtt_txbuf *b;

	b = kvmalloc(struct_size(b, data, room), GFP_KERNEL_ACCOUNT);
	if (!b)
		return NULL;
	b->len = 0;
	b->off = 0;
	b->room = room;
	b->secret = false;
	list_add_tail(&b->list, &msk->txq);
	return b;
}

static void mqtt_txbuf_free(struct mqtt_txbuf *b)
{
	list_del(&b->list);
	if (b->secret)
		kvfree_sensitive(b, struct_size(b, data, b->room));
	else
		kvfree(b);
}

static void mqtt_txbuf_put(struct mqtt_sock *msk, struct mqtt_txbuf *b,
			   const void *data, size_t len)
{
	memcpy(b->data + b->len, data, len);
	b->len += len;
	mqtt_txq_add(msk, len);
}

/**
 * mqtt_tx_queue() - queue a whole packet for the broker
 * @msk: the socket, locked
 * @buf: the packet
 * @len: its size
 *
 * After DISCONNECT nothing is sent [MQTT-3.14.4-2]: later packets are
 * dropped.  mqtt_tx_flush() sends what is queued.
 *
 * Return: 0 or -ENOMEM.
 */
int mqtt_tx_queue(struct mqtt_sock *msk, const void *buf, size_t len)
{
	struct mqtt_txbuf *b;

	mqtt_lock_held(msk);
	if (msk->sk.sk_shutdown & SEND_SHUTDOWN)
		return 0;
	b = list_empty(&msk->txq) ? NULL :
	    list_last_entry(&msk->txq, struct mqtt_txbuf, list);
	if (!b || b->secret || b->room - b->len < len) {
		b = mqtt_txbuf_new(msk, max_t(size_t, len, MQTT_TXBUF_MIN));
		if (!b)
			return -ENOMEM;
	}
	mqtt_txbuf_put(msk, b, buf, len);
	return 0;
}

/**
 * mqtt_tx_queue_secret() - queue room for a packet that holds a secret
 * @msk: the socket, locked, its send queue empty
 * @len: the packet's size
 *
 * The packet gets a buffer of its own, which no later packet shares and
 * which is zeroed when freed: the CONNECT, which carries the password.
 *
 * Return: where to encode the packet, or NULL.
 */
u8 *mqtt_tx_queue_secret(struct mqtt_sock *msk, size_t len)
{
	struct mqtt_txbuf *b;

	mqtt_lock_held(msk);
	b = mqtt_txbuf_new(msk, len);
	if (!b)
		return NULL;
	b->secret = true;
	b->len = len;
	mqtt_txq_add(msk, len);
	return b->data;
}

/**
 * mqtt_tx_flush() - hand queued bytes to TCP
 * @msk: the socket, locked, with a connection
 *
 * Wakes writers when a queue that had stalled empties.  Packets queued
 * and flushed in one go under the lock (acks, PINGREQ) wake nobody: no
 * sender can have seen them, and an idle session must not wake its
 * process.
 *
 * Return: 0 when all went, -EAGAIN when TCP is full (a write-space event
 * follows), else the -errno that broke the connection.
 */
int mqtt_tx_flush(struct mqtt_sock *msk)
{
	struct mqtt_txbuf *b, *tmp;

	mqtt_lock_held(msk);
	list_for_each_entry_safe(b, tmp, &msk->txq, list) {
		bool last = list_is_last(&b->list, &msk->txq);

		while (b->off < b->len) {
			struct kvec v = {
				.iov_base = b->data + b->off,
				.iov_len = b->len - b->off,
			};
			int n = mqtt_transport_send(msk, &v, 1,
						    v.iov_len,
						    last ? 0 : MSG_MORE);

			if (n < 0) {
				msk->tx_stalled = n == -EAGAIN;
				return n;
			}
			b->off += n;
			mqtt_txq_add(msk, -n);
		}
		mqtt_txbuf_free(b);
	}
	if (msk->tx_stalled) {
		msk->tx_stalled = false;
		mqtt_write_space(&msk->sk);
	}
	return 0;
}

/**
 * mqtt_tx_purge() - drop everything queued
 * @msk: the socket, locked or dying
 */
void mqtt_tx_purge(struct mqtt_sock *msk)
{
	struct mqtt_txbuf *b, *tmp;

	mqtt_lock_held_or_dying(msk);
	list_for_each_entry_safe(b, tmp, &msk->txq, list)
		mqtt_txbuf_free(b);
	WRITE_ONCE(msk->sk.sk_wmem_queued, 0);
}

/* Copy what TCP did not take of a packet to the queue. */
static int mqtt_tx_queue_rest(struct mqtt_sock *msk, struct kvec *vec,
			      size_t nr, size_t sent, struct iov_iter *iter)
{
	size_t head = 0, i, rest = iov_iter_count(iter);
	struct mqtt_txbuf *b;

	for (i = 0; i < nr; i++)
		head += vec[i].iov_len;
	b = mqtt_txbuf_new(msk, head - sent + rest);
	if (!b)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		size_t skip = min(sent, vec[i].iov_len);

		mqtt_txbuf_put(msk, b, vec[i].iov_base + skip,
			       vec[i].iov_len - skip);
		sent -= skip;
	}
	if (copy_from_iter(b->data + b->len, rest, iter) != rest)
		return -EFAULT;
	b->len += rest;
	mqtt_txq_add(msk, rest);
	return 0;
}

/**
 * mqtt_tx_publish() - frame and send one PUBLISH
 * @msk: the socket, locked, CONNECTED, with room for it (nothing queued,
 *	and for QoS 1/2 a window slot)
 * @a: its topic, QoS and retain
 * @remlen: its Remaining Length
 * @iter: the payload
 * @broken: set when the failure may have left part of the packet on the
 *	wire: the stream cannot go on and the caller ends the session
 *
 * What TCP does not take at once is queued, so the packet stays whole.
 *
 * Return: 0 when it is out or queued, else -errno.
 */
int mqtt_tx_publish(struct mqtt_sock *msk, const struct mqtt_pub_args *a,
		    u32 remlen, struct iov_iter *iter, bool *broken)
{
	u8 hdr[MQTT_FIXED_HDR_MAX + MQTT_LEN_PREFIX];
	size_t nr = 2, head, plen = iov_iter_count(iter);
	u8 payload[MQTT_TX_INLINE_MAX];
	struct mqtt_flow *flow = NULL;
	u8 pid_be[MQTT_PID_SIZE];
	struct kvec vec[4];
	int pid = 0, n;

	mqtt_lock_held(msk);
	*broken = false;
	if (a->qos) {
		pid = mqtt_flow_alloc(msk, a->qos == 1 ? MQTT_FLOW_PUBACK :
					   MQTT_FLOW_PUBREC, &flow);
		if (pid < 0)
			return pid;
	}
	vec[0].iov_base = hdr;
	vec[0].iov_len = mqtt_encode_publish_header(hdr, a->qos, a->retain,
						    remlen, a->topic_len);
	vec[1].iov_base = (void *)a->topic;
	vec[1].iov_len = a->topic_len;
	if (a->qos) {
		pid_be[0] = pid >> 8;
		pid_be[1] = pid & 0xff;
		vec[nr].iov_base = pid_be;
		vec[nr++].iov_len = sizeof(pid_be);
	}
	head = vec[0].iov_len + vec[1].iov_len + (a->qos ? MQTT_PID_SIZE : 0);
	/* A small payload joins the head: one pass through TCP, one copy
	 * more of at most MQTT_TX_INLINE_MAX bytes.  Nothing is out yet, so
	 * a fault here costs the session nothing.
	 */
	if (plen && plen <= sizeof(payload)) {
		if (copy_from_iter(payload, plen, iter) != plen) {
			if (flow)
				mqtt_flow_free(msk, pid);
			return -EFAULT;
		}
		vec[nr].iov_base = payload;
		vec[nr++].iov_len = plen;
		head += plen;
	}

	n = mqtt_transport_send_packet(msk, vec, nr, head, iter);
	if (n == -EAGAIN)
		n = 0;
	if (n < 0)
		goto fail;
	if ((size_t)n < head || iov_iter_count(iter)) {
		/* TCP is full: keep the rest, so the packet stays whole. */
		n = mqtt_tx_queue_rest(msk, vec, nr, min_t(size_t, n, head),
				       iter);
		if (n)
			goto fail;
		msk->tx_stalled = true;
	}
	if (flow)
		mqtt_flow_published(msk, flow);
	return 0;

fail:
	if (flow)
		mqtt_flow_free(msk, pid);
	/* Part of the packet may be out. */
	*broken = true;
	return n;
}
