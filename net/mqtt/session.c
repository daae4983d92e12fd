// SPDX-License-Identifier: GPL-2.0
/*
 * The MQTT session state machine: CONNECT out, CONNACK in, the outcome
 * reported; then the live session (receiving, keepalive, subscriptions)
 * until DISCONNECT, or until it is lost.
 *
 * mqtt_session_progress() is level-triggered: it looks at the TCP socket
 * and the pending events and advances as far as it can, so running it
 * once too often is harmless and an event is never lost as long as it
 * runs once after the event was noted.  It runs either in the system call
 * that drives it (mqtt_sync_begin) or from mqtt_work().
 */
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "mqtt.h"

/* Wake the system calls that will run progress themselves. */
static void mqtt_wake_drivers(struct sock *sk)
{
	struct socket_wq *wq;

	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		wake_up_interruptible_all(&wq->wait);
	rcu_read_unlock();
}

/**
 * mqtt_kick() - note that the session has something to look at
 * @msk: the socket; any context, no lock needed
 *
 * If system calls are driving the state machine they are woken (or see
 * the event before they return); otherwise the work item runs progress.
 * The barrier pairs with the one in mqtt_sync_end(): either this sees no
 * sync user, or that one sees MQTT_EV_PENDING set, so no event is left
 * behind.
 */
void mqtt_kick(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;

	set_bit(MQTT_EV_PENDING, &msk->events);
	/* Order the event before reading sync_users; see above. */
	smp_mb__after_atomic();
	if (atomic_read(&msk->sync_users)) {
		mqtt_wake_drivers(sk);
		return;
	}
	sock_hold(sk);
	if (!queue_work(mqtt_wq, &msk->work))
		sock_put(sk);
}

/**
 * mqtt_kick_data() - note bytes from the broker
 * @msk: the socket; any context, no lock needed
 * @unread: bytes TCP holds for us now
 *
 * A reader asleep in recv() (mqtt_sock.rx_waiters) is woken to read them
 * itself, which saves the worker's round trip before every batch of
 * messages.  Not for two bytes or fewer: that may be a lone PINGRESP,
 * and an idle session must wake nobody, so the work reads those.  The
 * barrier pairs with the one in mqtt_recvmsg() after its sleep.
 */
void mqtt_kick_data(struct mqtt_sock *msk, size_t unread)
{
	if (unread > MQTT_EMPTY_PKT_SIZE) {
		set_bit(MQTT_EV_PENDING, &msk->events);
		/* Order the event before reading rx_waiters; see above. */
		smp_mb__after_atomic();
		if (atomic_read(&msk->rx_waiters)) {
			mqtt_wake_drivers(&msk->sk);
			return;
		}
	}
	mqtt_kick(msk);
}

/**
 * mqtt_sync_begin() - a system call drives the state machine from here on
 * @msk: the socket, locked
 *
 * Until mqtt_sync_end(), events wake the caller's sleeps instead of
 * queueing work: every wait in between must also end on MQTT_EV_PENDING
 * and then run mqtt_session_progress().  Saves a worker's round trip for
 * what the caller is waiting for anyway (a CONNACK, PUBACKs), and for
 * what it causes itself (the FINs of close()).
 */
void mqtt_sync_begin(struct mqtt_sock *msk)
{
	atomic_inc(&msk->sync_users);
}

/**
 * mqtt_sync_end() - stop driving, after a last look
 * @msk: the socket, locked
 *
 * An event that came after the caller's last run (a CONNACK read without
 * a sleep, acks of earlier sends) is looked at here, where the caller
 * is anyway; only one that comes after that goes to the worker.
 */
void mqtt_sync_end(struct mqtt_sock *msk)
{
	if (test_bit(MQTT_EV_PENDING, &msk->events))
		mqtt_session_progress(msk);
	atomic_dec(&msk->sync_users);
	/* Pairs with mqtt_kick(): see there. */
	smp_mb__after_atomic();
	if (test_bit(MQTT_EV_PENDING, &msk->events))
		mqtt_kick(msk);
}

/**
 * mqtt_work() - run the state machine in process context
 * @work: &mqtt_sock.work, which holds a reference on the socket
 */
void mqtt_work(struct work_struct *work)
{
	struct mqtt_sock *msk = container_of(work, struct mqtt_sock, work);
	struct sock *sk = &msk->sk;

	lock_sock(sk);
	mqtt_session_progress(msk);
	release_sock(sk);
	sock_put(sk);
}

/* The errno connect() reports for a CONNACK return code. */
static int mqtt_connack_errno(u8 code)
{
	switch (code) {
	case MQTT_CONNACK_ACCEPTED:
		return 0;
	case MQTT_CONNACK_UNACCEPTABLE_PROTOCOL:
		return -EPROTONOSUPPORT;
	case MQTT_CONNACK_IDENTIFIER_REJECTED:
		return -EINVAL;
	case MQTT_CONNACK_BAD_USERNAME_OR_PASSWORD:
		return -EKEYREJECTED;
	case MQTT_CONNACK_NOT_AUTHORIZED:
		return -EACCES;
	case MQTT_CONNACK_SERVER_UNAVAILABLE:
	default:
		/* Reserved codes are a refusal, reported exactly. */
		return -ECONNREFUSED;
	}
}

/* Passes of receive-then-flush a run makes when acks held receiving up. */
#define MQTT_RX_ROUNDS		2
/* The low seven bits of an exit code name the signal that ended a task. */
#define MQTT_EXIT_SIGNAL_MASK	0x7f

/* The connection ends: everything it holds goes; @state follows. */
static void mqtt_teardown(struct mqtt_sock *msk, enum mqtt_state state,
			  bool abort)
{
	struct sock *sk = &msk->sk;

	mqtt_set_state(sk, state);
	mqtt_timer_stop(msk);
	mqtt_tcp_close(msk, abort);
	/* The CONNECT of a handshake cut short among what goes. */
	mqtt_tx_purge(msk);
	if (sk->sk_socket)
		sk->sk_socket->state = SS_UNCONNECTED;
}

static void mqtt_connect_failed(struct mqtt_sock *msk, int err)
{
	struct sock *sk = &msk->sk;

	/* The error before the state: see mqtt_poll(). */
	WRITE_ONCE(sk->sk_err, -err);
	/* Pairs with smp_rmb() in mqtt_poll(). */
	smp_wmb();
	mqtt_teardown(msk, MQTT_UNCONNECTED, false);
	sk_error_report(sk);
}

static void mqtt_connect_done(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;

	mqtt_timer_stop(msk);
	/* The session's receiving starts after the CONNACK. */
	msk->rx_hdr_len = 0;
	sk->sk_socket->state = SS_CONNECTED;
	mqtt_set_state(sk, MQTT_CONNECTED);
	mqtt_keepalive_start(msk);
	sk->sk_state_change(sk);
}

/* Read the CONNACK into rx_hdr, never more: bytes after it belong to the
 * session.
 * Return: 0 with @msk->connack filled, -EAGAIN to wait, else -errno.
 */
static int mqtt_rx_connack(struct mqtt_sock *msk)
{
	BUILD_BUG_ON(sizeof(msk->rx_hdr) < MQTT_CONNACK_SIZE);

	for (;;) {
		int n, err;

		err = mqtt_decode_connack(msk->rx_hdr, msk->rx_hdr_len,
					  &msk->connack);
		if (err != -EAGAIN)
			return err;
		n = mqtt_tcp_recv(msk, msk->rx_hdr + msk->rx_hdr_len,
				  MQTT_CONNACK_SIZE - msk->rx_hdr_len);
		if (n < 0)
			return n;
		if (!n)		/* The broker closed before answering. */
			return -ECONNRESET;
		msk->rx_hdr_len += n;
	}
}

/* One step of the handshake: 0 to wait for more, 1 when done, -errno. */
static int mqtt_handshake(struct mqtt_sock *msk)
{
	int err;

	if (test_bit(MQTT_EV_TIMEOUT, &msk->events))
		return -ETIMEDOUT;
	err = mqtt_tcp_status(msk);
	if (err)
		return err > 0 ? 0 : err;
	/* The CONNECT is all that is queued until the CONNACK. */
	err = mqtt_tx_flush(msk);
	if (!err)
		err = mqtt_rx_connack(msk);
	if (err == -EAGAIN)
		return 0;
	if (err)
		return err;
	msk->connack_valid = true;
	err = mqtt_connack_errno(msk->connack.return_code);
	return err ? err : 1;
}

/**
 * mqtt_session_error() - take the error that ended the session
 * @msk: the socket
 *
 * Return: -errno once, then 0.
 */
int mqtt_session_error(struct mqtt_sock *msk)
{
	return sock_error(&msk->sk);
}

/**
 * mqtt_session_fail() - end a live session
 * @msk: the socket, locked
 * @err: why, as -errno; 0 for the orderly end after our DISCONNECT
 *
 * The TCP connection is closed without DISCONNECT, so the broker
 * publishes the will; QoS 1/2 messages in flight are reported lost.
 * Messages already queued stay readable.
 */
void mqtt_session_fail(struct mqtt_sock *msk, int err)
{
	struct sock *sk = &msk->sk;

	if (mqtt_state(sk) != MQTT_CONNECTED)
		return;
	/* Reports of the lost messages first: once the end shows, they are
	 * on the error queue.
	 */
	mqtt_flows_fail(msk, err ? err : -EPIPE);
	/* The error before the state: see mqtt_poll().  The state early,
	 * so that the keepalive timer stops re-arming itself.
	 */
	if (err)
		WRITE_ONCE(sk->sk_err, -err);
	/* Pairs with smp_rmb() in mqtt_poll(). */
	smp_wmb();
	mqtt_set_state(sk, MQTT_CLOSED);
	sk->sk_shutdown = SHUTDOWN_MASK;
	mqtt_timer_stop(msk);
	mqtt_tcp_close(msk, false);
	mqtt_tx_purge(msk);
	mqtt_rx_purge(msk, false);
	if (err)
		sk_error_report(sk);
	sk->sk_state_change(sk);
	mqtt_write_space(sk);
}

/* After DISCONNECT has gone out, close TCP's sending side too. */
static void mqtt_tcp_finish(struct mqtt_sock *msk)
{
	if ((msk->sk.sk_shutdown & SEND_SHUTDOWN) && !mqtt_txq_bytes(msk) &&
	    !msk->tcp_fin) {
		kernel_sock_shutdown(msk->tcp, SHUT_WR);
		msk->tcp_fin = true;
	}
}

/* The live session: keepalive, received packets, queued bytes. */
static void mqtt_session_run(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;
	int err = 0, round;

	if (test_and_clear_bit(MQTT_EV_KEEPALIVE, &msk->events))
		err = mqtt_keepalive_check(msk);
	for (round = 0; !err && round < MQTT_RX_ROUNDS; round++) {
		err = mqtt_rx(msk);
		if (!err)
			err = mqtt_tx_flush(msk);
		if (err == -EAGAIN)
			err = 0;
		/* Go round again only if acks held receiving up and left. */
		if (!msk->rx_blocked || mqtt_txq_bytes(msk))
			break;
	}
	if (err) {
		mqtt_session_fail(msk, err);
		return;
	}
	mqtt_tcp_finish(msk);
	if (!msk->rx_blocked && mqtt_tcp_eof(msk)) {
		/* The broker closed: expected after our DISCONNECT only. */
		err = mqtt_tcp_error(msk);
		if (!err && !(sk->sk_shutdown & SEND_SHUTDOWN))
			err = -ECONNRESET;
		mqtt_session_fail(msk, err);
	}
}

/**
 * mqtt_session_progress() - advance the session as far as it can go
 * @msk: the socket, locked
 */
void mqtt_session_progress(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;
	int ret;

	/* Clear before looking: an event noted from here on sets the bit
	 * again and is looked at by the next run.
	 */
	clear_bit(MQTT_EV_PENDING, &msk->events);
	/* Order the clear before the reads of the TCP socket's state. */
	smp_mb__after_atomic();

	if (mqtt_state(sk) == MQTT_CONNECTING) {
		ret = mqtt_handshake(msk);
		if (ret < 0)
			mqtt_connect_failed(msk, ret);
		if (ret <= 0)
			return;
		mqtt_connect_done(msk);
	}
	if (mqtt_state(sk) == MQTT_CONNECTED)
		mqtt_session_run(msk);
}

static int mqtt_build_connect(struct mqtt_sock *msk)
{
	const struct mqtt_config *c = &msk->conf;
	struct mqtt_connect_params p = {
		.client_id = mqtt_config_str(c, MQTT_STR_CLIENT_ID),
		.will_topic = mqtt_config_str(c, MQTT_STR_WILL_TOPIC),
		.will_message = mqtt_config_str(c, MQTT_STR_WILL_MESSAGE),
		.username = mqtt_config_str(c, MQTT_STR_USERNAME),
		.password = mqtt_config_str(c, MQTT_STR_PASSWORD),
		.keepalive = c->keepalive,
		.level = c->level,
		.will_qos = c->will_qos,
		.will_retain = c->will_retain,
		.clean_session = c->clean_session,
	};
	u8 *frame;

	/* The broker assigns an identifier only to a clean session. */
	if (!p.client_id.len && !c->clean_session)
		return -EINVAL;
	/* No password without a user name [MQTT-3.1.2-22]. */
	if (p.password.data && !p.username.data)
		return -EINVAL;

	frame = mqtt_tx_queue_secret(msk, mqtt_connect_size(&p));
	if (!frame)
		return -ENOMEM;
	mqtt_encode_connect(frame, &p);
	return 0;
}

/**
 * mqtt_session_connect() - start the connection to the broker
 * @msk: the socket, locked, UNCONNECTED
 * @addr: the broker's address
 * @addrlen: its length
 *
 * Checks the options, builds CONNECT, starts TCP and the deadline, and
 * makes what progress it can without waiting.
 *
 * Return: 0 when the socket is CONNECTING (or already past it), -errno
 * when nothing was started; the socket is then UNCONNECTED as before.
 */
int mqtt_session_connect(struct mqtt_sock *msk, struct sockaddr *addr,
			 int addrlen)
{
	struct sock *sk = &msk->sk;
	int err;

	WRITE_ONCE(sk->sk_err, 0);
	msk->connack_valid = false;
	msk->rx_hdr_len = 0;
	clear_bit(MQTT_EV_TIMEOUT, &msk->events);
	clear_bit(MQTT_EV_KEEPALIVE, &msk->events);

	err = mqtt_build_connect(msk);
	if (err)
		return err;
	err = mqtt_tcp_open(msk, addr, addrlen);
	if (err) {
		mqtt_tx_purge(msk);
		return err;
	}
	sk->sk_socket->state = SS_CONNECTING;
	mqtt_set_state(sk, MQTT_CONNECTING);
	mqtt_connect_timer_start(msk);
	mqtt_session_progress(msk);
	return 0;
}

/* Queue DISCONNECT, the last packet [MQTT-3.14.4-2], and push it out.
 * Return: 0 when it went, -EAGAIN when it waits behind other bytes.
 */
static int mqtt_disconnect(struct mqtt_sock *msk)
{
	u8 pkt[MQTT_EMPTY_PKT_SIZE];
	int err;

	if (msk->sk.sk_shutdown & SEND_SHUTDOWN)
		return mqtt_txq_bytes(msk) ? -EAGAIN : 0;
	err = mqtt_tx_queue(msk, pkt, mqtt_encode_empty(pkt,
							MQTT_PKT_DISCONNECT));
	msk->sk.sk_shutdown |= SEND_SHUTDOWN;
	mqtt_timer_stop(msk);
	if (!err)
		err = mqtt_tx_flush(msk);
	if (!err)
		mqtt_tcp_finish(msk);
	return err;
}

/**
 * mqtt_session_shutdown() - shutdown(2)
 * @msk: the socket, locked
 * @how: SHUT_RD, SHUT_WR or SHUT_RDWR
 *
 * The sending side ends with DISCONNECT, then TCP's FIN; receiving goes
 * on until the broker closes.
 *
 * Return: 0, or -ENOTCONN when no session is live.
 */
int mqtt_session_shutdown(struct mqtt_sock *msk, int how)
{
	struct sock *sk = &msk->sk;
	int err;

	if (mqtt_state(sk) != MQTT_CONNECTED)
		return -ENOTCONN;
	if (how != SHUT_WR) {
		sk->sk_shutdown |= RCV_SHUTDOWN;
		sk->sk_state_change(sk);
	}
	if (how != SHUT_RD) {
		err = mqtt_disconnect(msk);
		if (err && err != -EAGAIN)
			mqtt_session_fail(msk, err);
		mqtt_write_space(sk);
	}
	return 0;
}

/* SO_LINGER: wait until the broker acknowledged every QoS 1/2 message. */
static void mqtt_linger(struct mqtt_sock *msk)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct sock *sk = &msk->sk;
	long timeo = sk->sk_lingertime;

	add_wait_queue(sk_sleep(sk), &wait);
	while (mqtt_state(sk) == MQTT_CONNECTED &&
	       (mqtt_inflight(msk) || mqtt_txq_bytes(msk)) && timeo &&
	       !signal_pending(current))
		sk_wait_event(sk, &timeo, mqtt_state(sk) != MQTT_CONNECTED ||
			      (!mqtt_inflight(msk) && !mqtt_txq_bytes(msk)),
			      &wait);
	remove_wait_queue(sk_sleep(sk), &wait);
}

/* Closing as the owner dies of a signal is a crash: no DISCONNECT, so
 * the broker publishes the will, as it would for a gateway that crashed.
 */
static bool mqtt_owner_killed(void)
{
	return (current->flags & PF_EXITING) &&
	       (current->exit_code & MQTT_EXIT_SIGNAL_MASK);
}

/**
 * mqtt_session_release() - end the session as the socket is closed
 * @msk: the socket, locked
 *
 * A live session waits for acknowledgments if SO_LINGER asks, then says
 * DISCONNECT, so that the broker discards the will.  It does not when
 * SO_LINGER has a zero timeout, when its owner was killed, or when
 * DISCONNECT cannot go out at once: then the connection is reset and the
 * broker publishes the will.  A handshake in progress is abandoned.
 */
void mqtt_session_release(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;
	bool abort = (sock_flag(sk, SOCK_LINGER) && !sk->sk_lingertime) ||
		     mqtt_owner_killed();

	/* Lingering waits for acks the worker reads: before driving. */
	if (mqtt_state(sk) == MQTT_CONNECTED && !abort &&
	    sock_flag(sk, SOCK_LINGER))
		mqtt_linger(msk);
	/* DISCONNECT, our FIN and the broker's raise events as TCP closes:
	 * close() drives, so they need no worker (which would only wait
	 * for this lock and find nothing to do).
	 */
	mqtt_sync_begin(msk);
	if (mqtt_state(sk) == MQTT_CONNECTED && !abort)
		abort = mqtt_disconnect(msk) != 0;
	mqtt_teardown(msk, MQTT_CLOSED, abort);
	mqtt_sync_end(msk);
}

/**
 * mqtt_session_destroy() - free what the socket still holds
 * @msk: the socket, unreachable now
 */
void mqtt_session_destroy(struct mqtt_sock *msk)
{
	mqtt_tx_purge(msk);
	mqtt_rx_purge(msk, true);
	mqtt_ids_free(msk);
	mqtt_config_free(&msk->conf);
}

/* Wait for the (UN)SUBACK of @flow: its result, or -errno. */
static int mqtt_sub_wait(struct mqtt_sock *msk, struct mqtt_flow *flow)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct sock *sk = &msk->sk;
	long timeo = msecs_to_jiffies(msk->conf.ack_timeout_ms);
	int err = 0;

	add_wait_queue(sk_sleep(sk), &wait);
	while (!flow->done) {
		if (!timeo) {
			err = -ETIMEDOUT;
			break;
		}
		if (signal_pending(current)) {
			err = sock_intr_errno(timeo);
			break;
		}
		sk_wait_event(sk, &timeo, flow->done, &wait);
	}
	remove_wait_queue(sk_sleep(sk), &wait);

	if (!flow->done) {
		/* The ack may still come: keep its identifier until then. */
		flow->abandoned = true;
		return err;
	}
	err = flow->err ? flow->err : flow->result;
	mqtt_flow_free(msk, flow->pid);
	return err;
}

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

/**
 * mqtt_subscribe() - setsockopt(MQTT_SUBSCRIBE or MQTT_UNSUBSCRIBE)
 * @msk: the socket, locked
 * @optname: which
 * @optval: struct mqtt_subscription, or the filter for UNSUBSCRIBE
 * @optlen: its length
 *
 * Sends the request and waits for its acknowledgment, at most
 * MQTT_ACK_TIMEOUT.  A granted QoS is written back to the caller's
 * struct mqtt_subscription.
 *
 * Return: 0, -EACCES when the broker refused, or -errno.
 */
int mqtt_subscribe(struct mqtt_sock *msk, int optname, sockptr_t optval,
		   unsigned int optlen)
{
	bool sub = optname == MQTT_SUBSCRIBE;
	u8 type = sub ? MQTT_PKT_SUBSCRIBE : MQTT_PKT_UNSUBSCRIBE;
	struct mqtt_flow *flow;
	u8 *filter, *pkt;
	u8 qos = 0;
	size_t size;
	int pid, err;
	u32 len;

	/* Before the state check: a bad request is EINVAL whenever made. */
	filter = mqtt_sub_filter(optname, optval, optlen, &len, &qos);
	if (IS_ERR(filter))
		return PTR_ERR(filter);
	err = -ENOTCONN;
	if (mqtt_state(&msk->sk) != MQTT_CONNECTED)
		goto out;
	err = -EPIPE;
	if (msk->sk.sk_shutdown & SEND_SHUTDOWN)
		goto out;

	size = mqtt_subscribe_size(type, len);
	pkt = kvmalloc(size, GFP_KERNEL);
	err = -ENOMEM;
	if (!pkt)
		goto out;
	pid = mqtt_flow_alloc(msk, sub ? MQTT_FLOW_SUBACK : MQTT_FLOW_UNSUBACK,
			      &flow);
	err = pid;
	if (pid < 0)
		goto out_pkt;
	mqtt_encode_subscribe(pkt, type, pid, filter, len, qos);
	err = mqtt_tx_queue(msk, pkt, size);
	if (err) {
		mqtt_flow_free(msk, pid);
		goto out_pkt;
	}
	err = mqtt_tx_flush(msk);
	if (err && err != -EAGAIN) {
		/* Fails the flow too: the wait below returns at once. */
		mqtt_session_fail(msk, err);
	}
	err = mqtt_sub_wait(msk, flow);
	if (err == MQTT_SUBACK_FAILURE)
		err = -EACCES;
	if (sub && err >= 0) {
		qos = err;
		err = copy_to_sockptr_offset(optval,
					     offsetof(struct mqtt_subscription,
						      qos), &qos, sizeof(qos));
	}
out_pkt:
	kvfree(pkt);
out:
	kvfree(filter);
	return err < 0 ? err : 0;
}
