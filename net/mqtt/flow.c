// SPDX-License-Identifier: GPL-2.0
/*
 * Outgoing packet identifiers and what each waits for (struct
 * mqtt_flow), the QoS 1/2 send window they make up, incoming QoS 2
 * identifiers awaiting PUBREL, and delivery reports on the error queue.
 *
 * Below the queues (tx.c, rx.c) and the session, which use it: it calls
 * nothing of net/mqtt but the codec's constants.  Everything here runs
 * under the socket lock; poll reads the window's counters locklessly
 * (mqtt_inflight(), mqtt_window_used()).
 */
#include <linux/errqueue.h>
#include <linux/slab.h>

#include "mqtt.h"

/**
 * mqtt_flow_ids_get() - the packet identifiers, allocated on first use
 * @msk: the socket, locked
 *
 * Return: the identifiers, or NULL when they cannot be allocated.
 */
struct mqtt_ids *mqtt_flow_ids_get(struct mqtt_sock *msk)
{
	struct mqtt_ids *ids = msk->ids;

	mqtt_lock_held(msk);
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
 * mqtt_flow_ids_free() - free the packet identifiers and their flows
 * @msk: the socket, unreachable now
 */
void mqtt_flow_ids_free(struct mqtt_sock *msk)
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
	struct mqtt_ids *ids = mqtt_flow_ids_get(msk);
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
	mqtt_lock_held(msk);
	kfree(xa_erase(&msk->ids->out, pid));
}

/**
 * mqtt_flow_find() - the flow of an outgoing packet identifier
 * @msk: the socket, locked
 * @pid: the identifier an acknowledgment names
 *
 * Return: its flow, or NULL when @pid is not in use.
 */
struct mqtt_flow *mqtt_flow_find(struct mqtt_sock *msk, u16 pid)
{
	mqtt_lock_held(msk);
	return msk->ids ? xa_load(&msk->ids->out, pid) : NULL;
}

/* Queue (or merge into the last) report of @seq, lost with -errno @err
 * or acknowledged (0).  Return: 0, or -ENOBUFS if there is no room.
 */
static int mqtt_flow_report(struct mqtt_sock *msk, u32 seq, int err)
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
static void mqtt_flow_window_wake(struct mqtt_sock *msk, bool was_full)
{
	if (was_full || !mqtt_inflight(msk))
		mqtt_write_space(&msk->sk);
}

static bool mqtt_flow_window_full(const struct mqtt_sock *msk)
{
	return mqtt_window_used(msk) >= msk->conf.inflight_max;
}

/* A PUBLISH flow ended: release its window slot once it is reported. */
static void mqtt_flow_finish(struct mqtt_sock *msk, u16 pid,
			     struct mqtt_flow *flow, int err)
{
	bool was_full = mqtt_flow_window_full(msk);
	struct mqtt_ids *ids = msk->ids;

	WRITE_ONCE(ids->inflight, ids->inflight - 1);
	if (msk->conf.delivery_reports &&
	    (!list_empty(&ids->unreported) ||
	     mqtt_flow_report(msk, flow->seq, err))) {
		/* The error queue is full: hold the slot, so that the
		 * window, not memory, absorbs a reader that lags.
		 */
		flow->kind = MQTT_FLOW_UNREPORTED;
		flow->err = err;
		list_add_tail(&flow->unreported, &ids->unreported);
		WRITE_ONCE(ids->unreported_n, ids->unreported_n + 1);
		mqtt_flow_window_wake(msk, false);
		return;
	}
	mqtt_flow_free(msk, pid);
	mqtt_flow_window_wake(msk, was_full);
}

/**
 * mqtt_flow_complete() - a QoS 1/2 PUBLISH got its last acknowledgment
 * @msk: the socket, locked
 * @pid: its packet identifier, a PUBLISH flow
 * @err: 0, or why it was lost (-errno)
 */
void mqtt_flow_complete(struct mqtt_sock *msk, u16 pid, int err)
{
	mqtt_lock_held(msk);
	mqtt_flow_finish(msk, pid, xa_load(&msk->ids->out, pid), err);
}

/**
 * mqtt_flow_reports_retry() - queue reports the full error queue held
 * @msk: the socket, locked
 */
void mqtt_flow_reports_retry(struct mqtt_sock *msk)
{
	bool was_full = mqtt_flow_window_full(msk);
	struct mqtt_flow *flow, *tmp;

	mqtt_lock_held(msk);
	if (!msk->ids)
		return;
	list_for_each_entry_safe(flow, tmp, &msk->ids->unreported,
				 unreported) {
		if (msk->conf.delivery_reports &&
		    mqtt_flow_report(msk, flow->seq, flow->err))
			break;
		list_del(&flow->unreported);
		WRITE_ONCE(msk->ids->unreported_n,
			   msk->ids->unreported_n - 1);
		mqtt_flow_free(msk, flow->pid);
	}
	if (was_full && !mqtt_flow_window_full(msk))
		mqtt_write_space(&msk->sk);
}

/**
 * mqtt_flow_fail_all() - the session ended: every open flow is lost
 * @msk: the socket, locked
 * @err: why (-errno), reported for each PUBLISH
 *
 * (UN)SUBSCRIBE flows with a waiter are marked done with @err for it.
 */
void mqtt_flow_fail_all(struct mqtt_sock *msk, int err)
{
	struct mqtt_flow *flow;
	unsigned long pid;

	mqtt_lock_held(msk);
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

/**
 * mqtt_flow_published() - a PUBLISH of @flow is out: it takes a slot
 * @msk: the socket, locked
 * @flow: its flow, from mqtt_flow_alloc()
 */
void mqtt_flow_published(struct mqtt_sock *msk, struct mqtt_flow *flow)
{
	struct mqtt_ids *ids = msk->ids;

	mqtt_lock_held(msk);
	flow->seq = ids->tx_seq++;
	WRITE_ONCE(ids->inflight, ids->inflight + 1);
}

/**
 * mqtt_flow_sub_done() - the (UN)SUBACK of @flow arrived
 * @msk: the socket, locked
 * @flow: a SUBACK or UNSUBACK flow
 * @result: the SUBACK's return code, 0 for UNSUBACK
 *
 * Its waiter is woken; a flow whose waiter left is freed.
 */
void mqtt_flow_sub_done(struct mqtt_sock *msk, struct mqtt_flow *flow,
			u8 result)
{
	mqtt_lock_held(msk);
	if (flow->abandoned) {
		mqtt_flow_free(msk, flow->pid);
		return;
	}
	flow->result = result;
	flow->done = true;
	msk->sk.sk_state_change(&msk->sk);
}

/**
 * mqtt_flow_sub_end() - the (UN)SUBSCRIBE's waiter is done with @flow
 * @msk: the socket, locked
 * @flow: a SUBACK or UNSUBACK flow
 * @result: the SUBACK's return code (0 for UNSUBACK), or the -errno that
 *	lost it
 *
 * A flow not done yet is marked abandoned: its identifier stays in use
 * until the acknowledgment comes (or the session ends).
 *
 * Return: true with @result filled once the flow is done, else false.
 */
bool mqtt_flow_sub_end(struct mqtt_sock *msk, struct mqtt_flow *flow,
		       int *result)
{
	mqtt_lock_held(msk);
	if (!flow->done) {
		flow->abandoned = true;
		return false;
	}
	*result = flow->err ? flow->err : flow->result;
	mqtt_flow_free(msk, flow->pid);
	return true;
}

/**
 * mqtt_flow_qos2_arrived() - note an incoming QoS 2 PUBLISH
 * @msk: the socket, locked
 * @pid: its packet identifier
 *
 * Return: 0 when it is new, 1 when @pid still awaits its PUBREL (a
 * resend of a message delivered once already), -ENOMEM.
 */
int mqtt_flow_qos2_arrived(struct mqtt_sock *msk, u16 pid)
{
	struct mqtt_ids *ids = mqtt_flow_ids_get(msk);

	if (!ids)
		return -ENOMEM;
	if (xa_load(&ids->in_qos2, pid))
		return 1;
	return xa_insert(&ids->in_qos2, pid, xa_mk_value(1),
			 GFP_KERNEL_ACCOUNT);
}

/**
 * mqtt_flow_qos2_released() - PUBREL for an incoming QoS 2 identifier
 * @msk: the socket, locked
 * @pid: the identifier; one not in use (from a resumed session) is fine
 */
void mqtt_flow_qos2_released(struct mqtt_sock *msk, u16 pid)
{
	mqtt_lock_held(msk);
	if (msk->ids)
		xa_erase(&msk->ids->in_qos2, pid);
}

/**
 * mqtt_flow_qos2_forget() - the connection ended: forget incoming QoS 2
 * @msk: the socket, locked or dying
 */
void mqtt_flow_qos2_forget(struct mqtt_sock *msk)
{
	mqtt_lock_held_or_dying(msk);
	if (msk->ids)
		xa_destroy(&msk->ids->in_qos2);
}
