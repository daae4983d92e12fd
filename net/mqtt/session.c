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
 * that drives it (mqtt_session_sync_begin()) or from the session's work.
 *
 * Called by the system calls (af_mqtt.c, sockopt.c); calls the layers
 * below (rx.c, tx.c, flow.c, config.c, timers.c, transport.c), which
 * return errors and leave ending the session to it.  The only calls up
 * into it are the upcall of the transport's callbacks and the timer:
 * mqtt_session_kick() and mqtt_session_kick_data().
 */
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "mqtt.h"

/* Runs mqtt_session_work(): one queue for every socket, no thread each. */
static struct workqueue_struct *mqtt_wq;

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
 * mqtt_session_kick() - the upcall: the session has something to look at
 * @msk: the socket; any context, no lock needed
 *
 * Called by the transport's callbacks and by the timer, the only calls
 * from a lower layer into the session.  If system calls are driving the
 * state machine they are woken (or see the event before they return);
 * otherwise the work item runs progress.  See "Driving the state
 * machine" in mqtt.h for the barriers.
 */
void mqtt_session_kick(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;

	set_bit(MQTT_EV_PENDING, &msk->events);
	/* Order the event before reading sync_users (A in mqtt.h). */
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
 * mqtt_session_kick_data() - the upcall for bytes from the broker
 * @msk: the socket; any context, no lock needed
 * @unread: bytes TCP holds for us now
 *
 * A reader asleep in recv() (mqtt_sock.rx_waiters) is woken to read them
 * itself, which saves the worker's round trip before every batch of
 * messages.  Not for two bytes or fewer: that may be a lone PINGRESP,
 * and an idle session must wake nobody, so the work reads those.
 */
void mqtt_session_kick_data(struct mqtt_sock *msk, size_t unread)
{
	if (unread > MQTT_EMPTY_PKT_SIZE) {
		set_bit(MQTT_EV_PENDING, &msk->events);
		/* Order the event before reading rx_waiters (B in mqtt.h). */
		smp_mb__after_atomic();
		if (atomic_read(&msk->rx_waiters)) {
			mqtt_wake_drivers(&msk->sk);
			return;
		}
	}
	mqtt_session_kick(msk);
}

/**
 * mqtt_session_sync_begin() - a system call drives the state machine
 * @msk: the socket, locked
 *
 * Until mqtt_session_sync_end(), events wake the caller's sleeps instead
 * of queueing work: every wait in between goes through mqtt_sock_wait(),
 * which also ends on MQTT_EV_PENDING and then runs
 * mqtt_session_progress().  Saves a worker's round trip for what the
 * caller is waiting for anyway (a CONNACK, PUBACKs), and for what it
 * causes itself (the FINs of close()).
 */
void mqtt_session_sync_begin(struct mqtt_sock *msk)
{
	mqtt_lock_held(msk);
	atomic_inc(&msk->sync_users);
}

/**
 * mqtt_session_sync_end() - stop driving, after a last look
 * @msk: the socket, locked
 *
 * An event that came after the caller's last run (a CONNACK read without
 * a sleep, acks of earlier sends) is looked at here, where the caller
 * is anyway; only one that comes after that goes to the worker.
 */
void mqtt_session_sync_end(struct mqtt_sock *msk)
{
	mqtt_lock_held(msk);
	if (mqtt_session_pending(msk))
		mqtt_session_progress(msk);
	atomic_dec(&msk->sync_users);
	/* Pairs with mqtt_session_kick() (A in mqtt.h). */
	smp_mb__after_atomic();
	if (mqtt_session_pending(msk))
		mqtt_session_kick(msk);
}

/* The state machine in process context; &mqtt_sock.work holds a
 * reference on the socket.
 */
static void mqtt_session_work(struct work_struct *work)
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
	mqtt_transport_close(msk, abort);
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
	msk->ping_outstanding = false;
	mqtt_timer_keepalive_start(msk);
	sk->sk_state_change(sk);
}

/* One step of the handshake: 0 to wait for more, 1 when done, -errno. */
static int mqtt_handshake(struct mqtt_sock *msk)
{
	int err;

	if (test_bit(MQTT_EV_TIMEOUT, &msk->events))
		return -ETIMEDOUT;
	err = mqtt_transport_status(msk);
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

	mqtt_lock_held(msk);
	if (mqtt_state(sk) != MQTT_CONNECTED)
		return;
	/* Reports of the lost messages first: once the end shows, they are
	 * on the error queue.
	 */
	mqtt_flow_fail_all(msk, err ? err : -EPIPE);
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
	mqtt_transport_close(msk, false);
	mqtt_tx_purge(msk);
	mqtt_rx_purge(msk, false);
	if (err)
		sk_error_report(sk);
	sk->sk_state_change(sk);
	mqtt_write_space(sk);
}

/* After DISCONNECT has gone out, close TCP's sending side too. */
static void mqtt_finish_tx(struct mqtt_sock *msk)
{
	if ((msk->sk.sk_shutdown & SEND_SHUTDOWN) && !mqtt_txq_bytes(msk) &&
	    !msk->tcp_fin) {
		mqtt_transport_shutdown(msk);
		msk->tcp_fin = true;
	}
}

/* The keepalive timer fired: queue PINGREQ when nothing was sent for a
 * keepalive interval [MQTT-3.1.2-23]; a broker silent for a whole
 * interval after it has let the session die.
 * Return: 0, or -ETIMEDOUT (-ENOMEM) to end the session.
 */
static int mqtt_keepalive(struct mqtt_sock *msk)
{
	unsigned long now = jiffies, due;
	u8 pkt[MQTT_EMPTY_PKT_SIZE];
	int err;

	if (!msk->conf.keepalive || (msk->sk.sk_shutdown & SEND_SHUTDOWN))
		return 0;
	/* Only the timer asks, and with a PINGREQ out only at its deadline. */
	if (msk->ping_outstanding)
		return -ETIMEDOUT;
	due = mqtt_timer_keepalive_due(msk);
	if (time_before(now, due)) {
		mqtt_timer_arm(msk, due);
		return 0;
	}
	err = mqtt_tx_queue(msk, pkt, mqtt_encode_empty(pkt, MQTT_PKT_PINGREQ));
	if (err)
		return err;
	WRITE_ONCE(msk->ping_outstanding, true);
	mqtt_timer_ping_start(msk, now);
	return 0;
}

/* The live session: keepalive, received packets, queued bytes. */
static void mqtt_session_run(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;
	int err = 0, round;

	if (test_and_clear_bit(MQTT_EV_KEEPALIVE, &msk->events))
		err = mqtt_keepalive(msk);
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
	mqtt_finish_tx(msk);
	if (!msk->rx_blocked && mqtt_transport_eof(msk)) {
		/* The broker closed: expected after our DISCONNECT only. */
		err = mqtt_transport_error(msk);
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

	mqtt_lock_held(msk);
	/* Clear before looking: an event noted from here on sets the bit
	 * again and is looked at by the next run (C in mqtt.h).
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

	mqtt_lock_held(msk);
	WRITE_ONCE(sk->sk_err, 0);
	msk->connack_valid = false;
	msk->rx_hdr_len = 0;
	clear_bit(MQTT_EV_TIMEOUT, &msk->events);
	clear_bit(MQTT_EV_KEEPALIVE, &msk->events);

	err = mqtt_build_connect(msk);
	if (err)
		return err;
	err = mqtt_transport_open(msk, addr, addrlen);
	if (err) {
		mqtt_tx_purge(msk);
		return err;
	}
	sk->sk_socket->state = SS_CONNECTING;
	mqtt_set_state(sk, MQTT_CONNECTING);
	mqtt_timer_connect_start(msk);
	mqtt_session_progress(msk);
	return 0;
}

/**
 * mqtt_session_publish() - publish one message whose room was found
 * @msk: the socket, locked, CONNECTED, its sending side open
 * @a: topic, QoS and retain
 * @remlen: the PUBLISH's Remaining Length
 * @iter: the payload
 *
 * A failure that may have left part of the packet on the wire ends the
 * session: the stream cannot go on.  This send then reports the
 * session's error, once, as the next would.
 *
 * Return: 0 once the PUBLISH is handed to TCP or queued behind what is,
 * else -errno.
 */
int mqtt_session_publish(struct mqtt_sock *msk, const struct mqtt_pub_args *a,
			 u32 remlen, struct iov_iter *iter)
{
	bool broken;
	int err;

	mqtt_lock_held(msk);
	err = mqtt_tx_publish(msk, a, remlen, iter, &broken);
	if (!err || !broken)
		return err;
	mqtt_session_fail(msk, err);
	return sock_error(&msk->sk) ?: err;
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
		mqtt_finish_tx(msk);
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

	mqtt_lock_held(msk);
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

/* Closing as the owner dies of a signal is a crash: no DISCONNECT, so
 * the broker publishes the will, as it would for a gateway that crashed.
 */
static bool mqtt_owner_killed(void)
{
	return (current->flags & PF_EXITING) &&
	       (current->exit_code & MQTT_EXIT_SIGNAL_MASK);
}

/* close() resets the connection instead of saying DISCONNECT. */
static bool mqtt_release_aborts(const struct mqtt_sock *msk)
{
	const struct sock *sk = &msk->sk;

	return (sock_flag(sk, SOCK_LINGER) && !sk->sk_lingertime) ||
	       mqtt_owner_killed();
}

/**
 * mqtt_session_lingers() - should close() wait before it ends the session
 * @msk: the socket, locked
 *
 * SO_LINGER with a timeout on a live session: close() waits, at most
 * that long, until the broker acknowledged every QoS 1/2 message.
 *
 * Return: true when it should.
 */
bool mqtt_session_lingers(struct mqtt_sock *msk)
{
	mqtt_lock_held(msk);
	return mqtt_state(&msk->sk) == MQTT_CONNECTED &&
	       sock_flag(&msk->sk, SOCK_LINGER) && !mqtt_release_aborts(msk);
}

/**
 * mqtt_session_release() - end the session as the socket is closed
 * @msk: the socket, locked
 *
 * A live session says DISCONNECT, so that the broker discards the will.
 * It does not when SO_LINGER has a zero timeout, when its owner was
 * killed, or when DISCONNECT cannot go out at once: then the connection
 * is reset and the broker publishes the will.  A handshake in progress
 * is abandoned.
 */
void mqtt_session_release(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;
	bool abort = mqtt_release_aborts(msk);

	mqtt_lock_held(msk);
	/* DISCONNECT, our FIN and the broker's raise events as TCP closes:
	 * close() drives, so they need no worker (which would only wait
	 * for this lock and find nothing to do).
	 */
	mqtt_session_sync_begin(msk);
	if (mqtt_state(sk) == MQTT_CONNECTED && !abort)
		abort = mqtt_disconnect(msk) != 0;
	mqtt_teardown(msk, MQTT_CLOSED, abort);
	mqtt_session_sync_end(msk);
}

/**
 * mqtt_session_subscribe() - send SUBSCRIBE or UNSUBSCRIBE
 * @msk: the socket, locked
 * @sub: SUBSCRIBE (true) or UNSUBSCRIBE
 * @filter: the topic filter, checked
 * @len: its length
 * @qos: the QoS asked for, SUBSCRIBE only
 * @flowp: the flow the acknowledgment completes (mqtt_flow_sub_end())
 *
 * Return: 0 with *@flowp set, -ENOTCONN when no session is live, -EPIPE
 * after shutdown, else -errno.
 */
int mqtt_session_subscribe(struct mqtt_sock *msk, bool sub, const u8 *filter,
			   u32 len, u8 qos, struct mqtt_flow **flowp)
{
	u8 type = sub ? MQTT_PKT_SUBSCRIBE : MQTT_PKT_UNSUBSCRIBE;
	struct mqtt_flow *flow;
	size_t size;
	int pid, err;
	u8 *pkt;

	mqtt_lock_held(msk);
	if (mqtt_state(&msk->sk) != MQTT_CONNECTED)
		return -ENOTCONN;
	if (msk->sk.sk_shutdown & SEND_SHUTDOWN)
		return -EPIPE;

	size = mqtt_subscribe_size(type, len);
	pkt = kvmalloc(size, GFP_KERNEL);
	if (!pkt)
		return -ENOMEM;
	pid = mqtt_flow_alloc(msk, sub ? MQTT_FLOW_SUBACK : MQTT_FLOW_UNSUBACK,
			      &flow);
	err = pid;
	if (pid < 0)
		goto out;
	mqtt_encode_subscribe(pkt, type, pid, filter, len, qos);
	err = mqtt_tx_queue(msk, pkt, size);
	if (err) {
		mqtt_flow_free(msk, pid);
		goto out;
	}
	err = mqtt_tx_flush(msk);
	/* Ending the session fails the flow too: its wait returns at once. */
	if (err && err != -EAGAIN)
		mqtt_session_fail(msk, err);
	*flowp = flow;
	err = 0;
out:
	kvfree(pkt);
	return err;
}

/**
 * mqtt_session_init() - the state of a new socket
 * @msk: the socket, new
 */
void mqtt_session_init(struct mqtt_sock *msk)
{
	mqtt_set_state(&msk->sk, MQTT_UNCONNECTED);
	mqtt_config_init(&msk->conf);
	mqtt_tx_init(msk);
	mqtt_rx_init(msk);
	mqtt_timer_init(msk);
	INIT_WORK(&msk->work, mqtt_session_work);
}

/**
 * mqtt_session_destroy() - free what the socket still holds
 * @msk: the socket, unreachable now
 */
void mqtt_session_destroy(struct mqtt_sock *msk)
{
	mqtt_tx_purge(msk);
	mqtt_rx_purge(msk, true);
	mqtt_flow_ids_free(msk);
	mqtt_config_free(&msk->conf);
}

/**
 * mqtt_session_module_init() - the work queue every session runs on
 *
 * Return: 0 or -ENOMEM.
 */
int __init mqtt_session_module_init(void)
{
	mqtt_wq = alloc_workqueue("mqtt", WQ_PERCPU, 0);
	return mqtt_wq ? 0 : -ENOMEM;
}

/**
 * mqtt_session_module_exit() - destroy the work queue
 *
 * Waits for the last work to return: it may have freed the last socket,
 * which holds the module until then.
 */
void mqtt_session_module_exit(void)
{
	destroy_workqueue(mqtt_wq);
}
