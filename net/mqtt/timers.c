// SPDX-License-Identifier: GPL-2.0
/*
 * Session timers.  A timer callback runs in softirq context: it only
 * notes the event and kicks the state machine through the upcall
 * (mqtt_session_kick()), which acts on it under the socket lock.  What a
 * deadline means, the session decides; here the timer is only armed,
 * moved and stopped.  A pending timer holds a reference on the socket
 * (sk_reset_timer / sk_stop_timer).
 *
 * The one timer a session needs is the socket's own sk->sk_timer, which
 * the socket layer leaves to the protocol: no space of our own for it.
 */
#include <linux/jiffies.h>

#include "mqtt.h"

static unsigned long mqtt_keepalive_jiffies(const struct mqtt_sock *msk)
{
	return (unsigned long)msk->conf.keepalive * HZ;
}

/**
 * mqtt_timer_keepalive_due() - when the next PINGREQ is due
 * @msk: the socket; any context (the callback reads it too)
 *
 * Return: one keepalive after the last send, in jiffies.
 */
unsigned long mqtt_timer_keepalive_due(const struct mqtt_sock *msk)
{
	return READ_ONCE(msk->last_tx) + mqtt_keepalive_jiffies(msk);
}

/* Sending resets the keepalive by moving last_tx, not the timer, so that
 * the hot path never touches a timer.  When the timer fires early for
 * that reason it only moves itself; the work runs only when a PINGREQ is
 * due or the broker missed its deadline.  While a PINGREQ is unanswered
 * the timer is armed for the PINGRESP deadline and never moved, so its
 * firing means the deadline passed.
 */
static void mqtt_timer_keepalive(struct mqtt_sock *msk)
{
	struct sock *sk = &msk->sk;
	unsigned long due;

	if (!READ_ONCE(msk->ping_outstanding)) {
		due = mqtt_timer_keepalive_due(msk);
		if (time_before(jiffies, due)) {
			sk_reset_timer(sk, &sk->sk_timer, due);
			return;
		}
	}
	set_bit(MQTT_EV_KEEPALIVE, &msk->events);
	mqtt_session_kick(msk);
}

/* The connect deadline while CONNECTING, keepalive while CONNECTED.  The
 * connect timer is stopped (synchronously) before keepalive first arms
 * the timer, so a run for one never finds the other's deadline; a run
 * that finds another state does nothing.
 */
static void mqtt_timer_fn(struct timer_list *t)
{
	struct mqtt_sock *msk = timer_container_of(msk, t, sk.sk_timer);

	switch (mqtt_state(&msk->sk)) {
	case MQTT_CONNECTING:
		set_bit(MQTT_EV_TIMEOUT, &msk->events);
		mqtt_session_kick(msk);
		break;
	case MQTT_CONNECTED:
		mqtt_timer_keepalive(msk);
		break;
	default:
		break;
	}
	sock_put(&msk->sk);
}

/**
 * mqtt_timer_init() - set up a new socket's timer
 * @msk: the socket, new
 */
void mqtt_timer_init(struct mqtt_sock *msk)
{
	timer_setup(&msk->sk.sk_timer, mqtt_timer_fn, 0);
}

/**
 * mqtt_timer_arm() - (re)arm the timer
 * @msk: the socket, locked
 * @expires: when, in jiffies
 */
void mqtt_timer_arm(struct mqtt_sock *msk, unsigned long expires)
{
	mqtt_lock_held(msk);
	sk_reset_timer(&msk->sk, &msk->sk.sk_timer, expires);
}

/**
 * mqtt_timer_keepalive_start() - start keepalive once the session is up
 * @msk: the socket, locked, CONNECTED
 *
 * The CONNECT was the last packet sent, so the first PINGREQ is due one
 * keepalive after it [MQTT-3.1.2-23].  Keepalive 0 turns it off.
 */
void mqtt_timer_keepalive_start(struct mqtt_sock *msk)
{
	if (msk->conf.keepalive)
		mqtt_timer_arm(msk, mqtt_timer_keepalive_due(msk));
}

/**
 * mqtt_timer_ping_start() - arm the deadline of a PINGREQ just queued
 * @msk: the socket, locked, CONNECTED
 * @now: when it was queued, in jiffies
 *
 * A broker silent for a whole keepalive interval after it has let the
 * session die.
 */
void mqtt_timer_ping_start(struct mqtt_sock *msk, unsigned long now)
{
	mqtt_timer_arm(msk, now + mqtt_keepalive_jiffies(msk));
}

/**
 * mqtt_timer_connect_start() - arm the deadline of the whole connect
 * @msk: the socket, locked
 */
void mqtt_timer_connect_start(struct mqtt_sock *msk)
{
	mqtt_timer_arm(msk, jiffies +
		       msecs_to_jiffies(msk->conf.connect_timeout_ms));
}

/**
 * mqtt_timer_stop() - disarm the timer, waiting for a running callback
 * @msk: the socket, locked
 *
 * The callback takes no lock, so waiting for it under the socket lock is
 * safe.  It re-arms itself only while CONNECTED; sk_stop_timer_sync()
 * also removes a timer it re-armed meanwhile.  Afterwards it cannot kick
 * the socket any more.
 */
void mqtt_timer_stop(struct mqtt_sock *msk)
{
	mqtt_lock_held(msk);
	sk_stop_timer_sync(&msk->sk, &msk->sk.sk_timer);
}
