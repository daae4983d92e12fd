// SPDX-License-Identifier: GPL-2.0
/*
 * Sending: PUBLISH from sendmsg(), the queue of bytes TCP has not taken
 * yet, outgoing packet identifiers with the QoS 1/2 window, and delivery
 * reports on the error queue.
 *
 * Bytes reach TCP in packet order: a packet goes straight to TCP only
 * when nothing is queued before it, and whatever TCP does not take of it
 * is copied to the queue, which mqtt_tx_flush() empties as TCP makes
 * room.  So a packet is never left half on the wire.
 */
#include <linux/errqueue.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "mqtt.h"

/* Room of a queue buffer for small packets, so acks share buffers. */
#define MQTT_TXBUF_MIN		256

/**
 * mqtt_write_space() - wake writers and POLLOUT waiters
 * @sk: the AF_MQTT socket
 */
void mqtt_write_space(struct sock *sk)
{
	struct socket_wq *wq;

	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		wake_up_interruptible_sync_poll(&wq->wait, EPOLLOUT |
						EPOLLWRNORM | EPOLLWRBAND);
	sk_wake_async(sk, SOCK_WAKE_SPACE, POLL_OUT);
	rcu_read_unlock();
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
	struct mqtt_txbuf *b = mqtt_txbuf_new(msk, len);

	if (!b)
		return NULL;
	b->secret = true;
	b->len = len;
	mqtt_txq_add(msk, len);
	return b->data;
}

/**
 * mqtt_tx_flush() - hand queued bytes to TCP
 * @msk: the socket, locked, with a TCP socket
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

	list_for_each_entry_safe(b, tmp, &msk->txq, list) {
		bool last = list_is_last(&b->list, &msk->txq);

		while (b->off < b->len) {
			struct kvec v = {
				.iov_base = b->data + b->off,
				.iov_len = b->len - b->off,
			};
			int n = mqtt_tcp_send(msk, &v, 1, v.iov_len,
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

	list_for_each_entry_safe(b, tmp, &msk->txq, list)
		mqtt_txbuf_free(b);
	WRITE_ONCE(msk->sk.sk_wmem_queued, 0);
}

/**
 * mqtt_ids_get() - the socket's packet identifiers, allocated on first use
 * @msk: the socket, locked
 *
 * Return: the identifiers, or NULL when they cannot be allocated.
 */
struct mqtt_ids *mqtt_ids_get(struct mqtt_sock *msk)
{
	struct mqtt_ids *ids = msk->ids;

	if (ids)
		return ids;
	ids = kzalloc(sizeof(*ids), GFP_KERNEL_ACCOUNT);
	if (!ids)
		return NULL;
	xa_init_flags(&ids->out, XA_FLAGS_ALLOC1);
	xa_init(&ids->in_qos2);
	INIT_LIST_HEAD(&ids->unreported);
	/* Initialised before poll can see it. */
	smp_store_release(&msk->ids, ids);
	return ids;
}

/**
 * mqtt_ids_free() - free the packet identifiers and their flows
 * @msk: the socket, unreachable now
 */
void mqtt_ids_free(struct mqtt_sock *msk)
{
	struct mqtt_ids *ids = msk->ids;
	struct mqtt_flow *flow;
	unsigned long pid;

	if (!ids)
		return;
	xa_for_each(&ids->out, pid, flow)
		kfree(flow);
	xa_destroy(&ids->out);
	xa_destroy(&ids->in_qos2);
	kfree(ids);
	msk->ids = NULL;
}

/**
 * mqtt_flow_alloc() - take a packet identifier for an outgoing packet
 * @msk: the socket, locked
 * @kind: what the packet will wait for
 * @flowp: the new flow
 *
 * Identifiers go round from 1 to 65,535, skipping those in use, so one is
 * reused as late as possible (2.3.1).
 *
 * Return: the identifier, or -ENOMEM, -ENOBUFS when all are in use.
 */
int mqtt_flow_alloc(struct mqtt_sock *msk, enum mqtt_flow_kind kind,
		    struct mqtt_flow **flowp)
{
	struct mqtt_ids *ids = mqtt_ids_get(msk);
	struct mqtt_flow *flow;
	u32 pid;
	int err;

	if (!ids)
		return -ENOMEM;
	flow = kzalloc(sizeof(*flow), GFP_KERNEL_ACCOUNT);
	if (!flow)
		return -ENOMEM;
	flow->kind = kind;
	INIT_LIST_HEAD(&flow->unreported);
	err = xa_alloc_cyclic(&ids->out, &pid, flow,
			      XA_LIMIT(1, MQTT_PID_MAX), &ids->next_pid,
			      GFP_KERNEL_ACCOUNT);
	if (err < 0) {
		kfree(flow);
		return err == -EBUSY ? -ENOBUFS : err;
	}
	flow->pid = pid;
	*flowp = flow;
	return pid;
}

/**
 * mqtt_flow_free() - release a packet identifier
 * @msk: the socket, locked, with @pid in use
 * @pid: the identifier
 */
void mqtt_flow_free(struct mqtt_sock *msk, u16 pid)
{
	kfree(xa_erase(&msk->ids->out, pid));
}

/* Queue (or merge into the last) report of @seq, lost with -errno @err
 * or acknowledged (0).  Return: 0, or -ENOBUFS if there is no room.
 */
static int mqtt_report(struct mqtt_sock *msk, u32 seq, int err)
{
	struct sk_buff_head *q = &msk->sk.sk_error_queue;
	struct sock_exterr_skb *serr;
	struct sk_buff *skb;
	unsigned long flags;
	bool merged = false;

	/* Consecutive outcomes share one report, as MSG_ZEROCOPY's do. */
	spin_lock_irqsave(&q->lock, flags);
	skb = skb_peek_tail(q);
	if (skb) {
		serr = SKB_EXT_ERR(skb);
		if (serr->ee.ee_origin == SO_EE_ORIGIN_MQTT &&
		    serr->ee.ee_errno == -err && serr->ee.ee_data + 1 == seq) {
			serr->ee.ee_data = seq;
			merged = true;
		}
	}
	spin_unlock_irqrestore(&q->lock, flags);
	if (merged)
		return 0;

	skb = alloc_skb(0, GFP_KERNEL);
	if (!skb)
		return -ENOBUFS;
	serr = SKB_EXT_ERR(skb);
	memset(serr, 0, sizeof(*serr));
	serr->ee.ee_errno = -err;
	serr->ee.ee_origin = SO_EE_ORIGIN_MQTT;
	serr->ee.ee_info = seq;
	serr->ee.ee_data = seq;
	if (sock_queue_err_skb(&msk->sk, skb)) {
		kfree_skb(skb);
		return -ENOBUFS;
	}
	return 0;
}

/* Wake writers if a window slot opens on a full window, or the last
 * message in flight finished (SO_LINGER waits for that).
 */
static void mqtt_window_wake(struct mqtt_sock *msk, bool was_full)
{
	if (was_full || !mqtt_inflight(msk))
		mqtt_write_space(&msk->sk);
}

static bool mqtt_window_full(const struct mqtt_sock *msk)
{
	return mqtt_window_used(msk) >= msk->conf.inflight_max;
}

/* A PUBLISH flow ended: release its window slot once it is reported. */
static void mqtt_flow_finish(struct mqtt_sock *msk, u16 pid,
			     struct mqtt_flow *flow, int err)
{
	bool was_full = mqtt_window_full(msk);
	struct mqtt_ids *ids = msk->ids;

	WRITE_ONCE(ids->inflight, ids->inflight - 1);
	if (msk->conf.delivery_reports &&
	    (!list_empty(&ids->unreported) ||
	     mqtt_report(msk, flow->seq, err))) {
		/* The error queue is full: hold the slot, so that the
		 * window, not memory, absorbs a reader that lags.
		 */
		flow->kind = MQTT_FLOW_UNREPORTED;
		flow->err = err;
		list_add_tail(&flow->unreported, &ids->unreported);
		WRITE_ONCE(ids->unreported_n, ids->unreported_n + 1);
		mqtt_window_wake(msk, false);
		return;
	}
	mqtt_flow_free(msk, pid);
	mqtt_window_wake(msk, was_full);
}

/**
 * mqtt_flow_complete() - a QoS 1/2 PUBLISH got its last acknowledgment
 * @msk: the socket, locked
 * @pid: its packet identifier, a PUBLISH flow
 * @err: 0, or why it was lost (-errno)
 */
void mqtt_flow_complete(struct mqtt_sock *msk, u16 pid, int err)
{
	mqtt_flow_finish(msk, pid, xa_load(&msk->ids->out, pid), err);
}

/**
 * mqtt_reports_retry() - queue reports that found the error queue full
 * @msk: the socket, locked
 */
void mqtt_reports_retry(struct mqtt_sock *msk)
{
	bool was_full = mqtt_window_full(msk);
	struct mqtt_flow *flow, *tmp;

	if (!msk->ids)
		return;
	list_for_each_entry_safe(flow, tmp, &msk->ids->unreported,
				 unreported) {
		if (msk->conf.delivery_reports &&
		    mqtt_report(msk, flow->seq, flow->err))
			break;
		list_del(&flow->unreported);
		WRITE_ONCE(msk->ids->unreported_n,
			   msk->ids->unreported_n - 1);
		mqtt_flow_free(msk, flow->pid);
	}
	if (was_full && !mqtt_window_full(msk))
		mqtt_write_space(&msk->sk);
}

/**
 * mqtt_flows_fail() - the session ended: every open flow is lost
 * @msk: the socket, locked
 * @err: why (-errno), reported for each PUBLISH
 *
 * (UN)SUBSCRIBE flows with a waiter are marked done with @err for it.
 */
void mqtt_flows_fail(struct mqtt_sock *msk, int err)
{
	struct mqtt_flow *flow;
	unsigned long pid;

	if (!msk->ids)
		return;
	xa_for_each(&msk->ids->out, pid, flow) {
		switch (flow->kind) {
		case MQTT_FLOW_PUBACK:
		case MQTT_FLOW_PUBREC:
		case MQTT_FLOW_PUBCOMP:
			mqtt_flow_finish(msk, pid, flow, err);
			break;
		case MQTT_FLOW_SUBACK:
		case MQTT_FLOW_UNSUBACK:
			if (flow->abandoned) {
				mqtt_flow_free(msk, pid);
			} else {
				flow->done = true;
				flow->err = err;
			}
			break;
		case MQTT_FLOW_UNREPORTED:
			break;
		}
	}
}

/* Topic, QoS and retain of one send: socket defaults, then cmsgs. */
struct mqtt_pub_args {
	const u8 *topic;
	u32 topic_len;
	u8 qos;
	bool retain;
};

static int mqtt_cmsg_int(struct cmsghdr *cmsg, int max, int *val)
{
	if (cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EINVAL;
	memcpy(val, CMSG_DATA(cmsg), sizeof(int));
	return *val < 0 || *val > max ? -EINVAL : 0;
}

static int mqtt_pub_args(struct mqtt_sock *msk, struct msghdr *msg,
			 struct mqtt_pub_args *a)
{
	struct mqtt_field topic = mqtt_config_str(&msk->conf,
						  MQTT_STR_PUBLISH_TOPIC);
	struct cmsghdr *cmsg;
	int err, val;

	a->topic = topic.data;
	a->topic_len = topic.len;
	a->qos = msk->conf.publish_qos;
	a->retain = msk->conf.publish_retain;

	if (msg->msg_controllen && msg->msg_control_is_user)
		return -EINVAL;
	for_each_cmsghdr(cmsg, msg) {
		if (!CMSG_OK(msg, cmsg) || cmsg->cmsg_level != SOL_MQTT)
			return -EINVAL;
		switch (cmsg->cmsg_type) {
		case MQTT_PUBLISH_TOPIC:
			a->topic = CMSG_DATA(cmsg);
			a->topic_len = cmsg->cmsg_len - CMSG_LEN(0);
			if (!mqtt_topic_name_valid(a->topic, a->topic_len))
				return -EINVAL;
			break;
		case MQTT_PUBLISH_QOS:
			err = mqtt_cmsg_int(cmsg, MQTT_QOS_MAX, &val);
			if (err)
				return err;
			a->qos = val;
			break;
		case MQTT_PUBLISH_RETAIN:
			err = mqtt_cmsg_int(cmsg, 1, &val);
			if (err)
				return err;
			a->retain = val;
			break;
		default:
			return -EINVAL;
		}
	}
	return a->topic ? 0 : -EDESTADDRREQ;
}

static bool mqtt_send_stopped(const struct mqtt_sock *msk)
{
	return mqtt_state(&msk->sk) != MQTT_CONNECTED ||
	       (msk->sk.sk_shutdown & SEND_SHUTDOWN);
}

/* The errno of a send on a stopped socket; consumes a pending error. */
static int mqtt_send_error(struct mqtt_sock *msk)
{
	switch (mqtt_state(&msk->sk)) {
	case MQTT_CONNECTED:
	case MQTT_CLOSED:
		return mqtt_session_error(msk) ?: -EPIPE;
	default:
		return -ENOTCONN;
	}
}

static bool mqtt_send_room(const struct mqtt_sock *msk, u8 qos)
{
	return !mqtt_txq_bytes(msk) &&
	       (!qos || mqtt_window_used(msk) <
			msk->conf.inflight_max);
}

/* Wait, as a stream socket does, for room for a PUBLISH of @qos.
 * Return: 0 when there is room and the lock was held throughout; 1 after
 * a wait, which dropped the lock, so the caller must look again at
 * everything it read from the socket; else -errno.
 */
static int mqtt_wait_send(struct mqtt_sock *msk, u8 qos, long *timeo)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct sock *sk = &msk->sk;

	if (mqtt_send_room(msk, qos))
		return 0;
	if (!*timeo)
		return -EAGAIN;
	if (signal_pending(current))
		return sock_intr_errno(*timeo);
	add_wait_queue(sk_sleep(sk), &wait);
	sk_wait_event(sk, timeo, mqtt_send_stopped(msk) ||
		      mqtt_send_room(msk, qos) ||
		      test_bit(MQTT_EV_PENDING, &msk->events), &wait);
	remove_wait_queue(sk_sleep(sk), &wait);
	/* The acks that make room, read here rather than by the work. */
	if (test_bit(MQTT_EV_PENDING, &msk->events))
		mqtt_session_progress(msk);
	return 1;
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

/* Send one PUBLISH whose room mqtt_wait_send() found. */
static int mqtt_publish(struct mqtt_sock *msk, const struct mqtt_pub_args *a,
			u32 remlen, struct iov_iter *iter)
{
	u8 hdr[MQTT_FIXED_HDR_MAX + MQTT_LEN_PREFIX];
	size_t nr = 2, head, plen = iov_iter_count(iter);
	u8 payload[MQTT_TX_INLINE_MAX];
	struct mqtt_flow *flow = NULL;
	u8 pid_be[MQTT_PID_SIZE];
	struct kvec vec[4];
	int pid = 0, n;

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

	n = mqtt_tcp_send_packet(msk, vec, nr, head, iter);
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
	if (flow) {
		flow->seq = msk->ids->tx_seq++;
		WRITE_ONCE(msk->ids->inflight, msk->ids->inflight + 1);
	}
	return 0;

fail:
	if (flow)
		mqtt_flow_free(msk, pid);
	/* Part of the packet may be out: the stream cannot go on.  This
	 * send reports the session's error, once, as the next would.
	 */
	mqtt_session_fail(msk, n);
	return sock_error(&msk->sk) ?: n;
}

/**
 * mqtt_sendmsg() - publish one message
 * @sock: the socket
 * @msg: the payload, and SOL_MQTT cmsgs for topic, QoS and retain
 * @len: the payload's length
 *
 * Return: @len once the PUBLISH is handed to TCP or queued behind what
 * is, else -errno.
 */
int mqtt_sendmsg(struct socket *sock, struct msghdr *msg, size_t len)
{
	struct sock *sk = sock->sk;
	struct mqtt_sock *msk = mqtt_sk(sk);
	struct mqtt_pub_args a;
	u64 remlen;
	long timeo;
	int err;

	/* sendmmsg() sets MSG_BATCH on all but its last message: a hint,
	 * taken as one; each message is still one PUBLISH, pushed at once.
	 */
	if (msg->msg_flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR |
			       MSG_BATCH | MSG_CMSG_COMPAT))
		return -EOPNOTSUPP;

	timeo = sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT);
	lock_sock(sk);
	mqtt_sync_begin(msk);
	/* The defaults (a topic buffer among them) may change while the
	 * lock is dropped to wait: take them again after every wait.
	 */
	do {
		err = mqtt_pub_args(msk, msg, &a);
		if (err)
			goto out;
		if (mqtt_send_stopped(msk)) {
			err = mqtt_send_error(msk);
			goto out;
		}
		remlen = mqtt_publish_remlen(a.topic_len, a.qos, len);
		if (remlen > MQTT_REMLEN_MAX ||
		    1 + mqtt_remlen_size(remlen) + remlen >
		    READ_ONCE(sk->sk_sndbuf)) {
			err = -EMSGSIZE;
			goto out;
		}
		err = mqtt_wait_send(msk, a.qos, &timeo);
	} while (err > 0);
	if (!err)
		err = mqtt_publish(msk, &a, remlen, &msg->msg_iter);
	if (!err)
		err = len;
out:
	mqtt_sync_end(msk);
	release_sock(sk);
	if (err == -EPIPE && !(msg->msg_flags & MSG_NOSIGNAL))
		send_sig(SIGPIPE, current, 0);
	return err;
}
