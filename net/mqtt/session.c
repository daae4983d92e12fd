// SPDX-License-Identifier: GPL-2.0
/*
 * The MQTT session state machine: CONNECT out, CONNACK in, the outcome
 * reported, DISCONNECT on close.
 *
 * mqtt_session_progress() is level-triggered: it looks at the TCP socket
 * and the pending events and advances as far as it can, so running it
 * once too often is harmless and an event is never lost as long as it
 * runs once after the event was noted.  It runs either in the system call
 * that drives the handshake (MQTT_F_SYNC) or from mqtt_work().
 */
#include <linux/mm.h>
#include <linux/slab.h>

#include "mqtt.h"

/**
 * mqtt_kick() - note that the session has something to look at
 * @msk: the socket; any context, no lock needed
 *
 * If a system call is driving the state machine it is woken; otherwise
 * the work item runs progress.  The barrier pairs with the one in the
 * system call's exit path (mqtt_sync_end): either this sees MQTT_F_SYNC
 * clear, or that sees MQTT_EV_PENDING set, so no event is left behind.
 */
void mqtt_kick(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;

	set_bit(MQTT_EV_PENDING, &msk->events);
	/* Order the event before reading MQTT_F_SYNC; see above. */
	smp_mb__after_atomic();
	if (test_bit(MQTT_F_SYNC, &msk->flags)) {
		struct socket_wq *wq;

		rcu_read_lock();
		wq = rcu_dereference(sk->sk_wq);
		if (skwq_has_sleeper(wq))
			wake_up_interruptible_all(&wq->wait);
		rcu_read_unlock();
		return;
	}
	sock_hold(sk);
	if (!queue_work(mqtt_wq, &msk->work))
		sock_put(sk);
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

static void mqtt_tx_free(struct mqtt_sock *msk)
{
	kvfree_sensitive(msk->tx, msk->tx_len);
	msk->tx = NULL;
	msk->tx_len = 0;
	msk->tx_off = 0;
}

/* Everything a connect attempt holds goes; the socket becomes @state. */
static void mqtt_session_end(struct mqtt_sock *msk, enum mqtt_state state,
			     bool abort)
{
	mqtt_connect_timer_stop(msk);
	mqtt_tcp_close(msk, abort);
	mqtt_tx_free(msk);
	msk->sk.sk_socket->state = SS_UNCONNECTED;
	mqtt_set_state(&msk->sk, state);
}

static void mqtt_connect_failed(struct mqtt_sock *msk, int err)
{
	struct sock *sk = &msk->sk;

	/* A peer that closed before CONNACK reset the session for us. */
	if (err == -EPIPE)
		err = -ECONNRESET;
	mqtt_session_end(msk, MQTT_UNCONNECTED, false);
	WRITE_ONCE(sk->sk_err, -err);
	sk_error_report(sk);
}

static void mqtt_connect_done(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;

	mqtt_connect_timer_stop(msk);
	mqtt_tx_free(msk);
	sk->sk_socket->state = SS_CONNECTED;
	mqtt_set_state(sk, MQTT_CONNECTED);
	sk->sk_state_change(sk);
}

/* Send what is left of @tx: 0 when all went, -EAGAIN to wait, -errno. */
static int mqtt_tx_flush(struct mqtt_sock *msk)
{
	while (msk->tx_off < msk->tx_len) {
		int n = mqtt_tcp_send(msk, msk->tx + msk->tx_off,
				      msk->tx_len - msk->tx_off);

		if (n < 0)
			return n;
		msk->tx_off += n;
	}
	mqtt_tx_free(msk);
	return 0;
}

/* Read the CONNACK, never more: bytes after it belong to the session.
 * Return: 0 with @msk->connack filled, -EAGAIN to wait, else -errno.
 */
static int mqtt_rx_connack(struct mqtt_sock *msk)
{
	for (;;) {
		int n, err;

		err = mqtt_decode_connack(msk->rx, msk->rx_len, &msk->connack);
		if (err != -EAGAIN)
			return err;
		n = mqtt_tcp_recv(msk, msk->rx + msk->rx_len,
				  sizeof(msk->rx) - msk->rx_len);
		if (n < 0)
			return n;
		if (!n)		/* The broker closed before answering. */
			return -ECONNRESET;
		msk->rx_len += n;
	}
}

/* One step of the handshake: 0 to wait for more, 1 when done, -errno. */
static int mqtt_handshake(struct mqtt_sock *msk)
{
	int err;

	if (test_bit(MQTT_EV_TIMEOUT, &msk->events))
		return -ETIMEDOUT;
	/* A CONNACK sent just before the FIN still counts. */
	err = mqtt_tcp_status(msk, true);
	if (err)
		return err > 0 ? 0 : err;
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

	switch (mqtt_state(sk)) {
	case MQTT_CONNECTING:
		ret = mqtt_handshake(msk);
		if (ret < 0)
			mqtt_connect_failed(msk, ret);
		else if (ret > 0)
			mqtt_connect_done(msk);
		break;
	case MQTT_CONNECTED:
		/* The broker ends a session only by closing the connection. */
		ret = mqtt_tcp_status(msk, false);
		if (ret) {
			mqtt_session_end(msk, MQTT_CLOSED, false);
			WRITE_ONCE(sk->sk_err, ret < 0 ? -ret : ECONNRESET);
			sk_error_report(sk);
		}
		break;
	default:
		break;
	}
}

static int mqtt_build_connect(struct mqtt_sock *msk)
{
	const struct mqtt_config *c = &msk->conf;
	struct mqtt_connect_params p = {
		.client_id = { c->client_id.data, c->client_id.len },
		.will_topic = { c->will_topic.data, c->will_topic.len },
		.will_message = { c->will_message.data, c->will_message.len },
		.username = { c->username.data, c->username.len },
		.password = { c->password.data, c->password.len },
		.keepalive = c->keepalive,
		.level = c->level,
		.will_qos = c->will_qos,
		.will_retain = c->will_retain,
		.clean_session = c->clean_session,
	};

	/* The broker assigns an identifier only to a clean session. */
	if (!c->client_id.len && !c->clean_session)
		return -EINVAL;
	/* No password without a user name [MQTT-3.1.2-22]. */
	if (c->password.data && !c->username.data)
		return -EINVAL;

	msk->tx_len = mqtt_connect_size(&p);
	msk->tx = kvmalloc(msk->tx_len, GFP_KERNEL_ACCOUNT);
	if (!msk->tx) {
		msk->tx_len = 0;
		return -ENOMEM;
	}
	mqtt_encode_connect(msk->tx, &p);
	msk->tx_off = 0;
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
	msk->rx_len = 0;
	clear_bit(MQTT_EV_TIMEOUT, &msk->events);

	err = mqtt_build_connect(msk);
	if (err)
		return err;
	err = mqtt_tcp_open(msk, addr, addrlen);
	if (err) {
		mqtt_tx_free(msk);
		return err;
	}
	sk->sk_socket->state = SS_CONNECTING;
	mqtt_set_state(sk, MQTT_CONNECTING);
	mqtt_connect_timer_start(msk);
	mqtt_session_progress(msk);
	return 0;
}

/**
 * mqtt_session_release() - end the session as the socket is closed
 * @msk: the socket, locked
 *
 * A live session says DISCONNECT first, so that the broker discards the
 * will, unless SO_LINGER with a zero timeout asks for an abortive close:
 * then the connection is reset and the broker publishes the will.  A
 * handshake in progress is simply abandoned.
 */
void mqtt_session_release(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;
	bool abort = sock_flag(sk, SOCK_LINGER) && !sk->sk_lingertime;

	if (mqtt_state(sk) == MQTT_CONNECTED && !abort) {
		u8 pkt[MQTT_EMPTY_PKT_SIZE];
		size_t len = mqtt_encode_empty(pkt, MQTT_PKT_DISCONNECT);

		/* Nothing is sent after DISCONNECT [MQTT-3.14.4-2]. */
		if (mqtt_tcp_send(msk, pkt, len) == (int)len)
			kernel_sock_shutdown(msk->tcp, SHUT_WR);
	}
	mqtt_session_end(msk, MQTT_CLOSED, abort);
}
