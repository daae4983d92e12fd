// SPDX-License-Identifier: GPL-2.0
/*
 * Session timers.  A timer callback runs in softirq context: it only
 * notes the event and kicks the state machine, which acts on it under the
 * socket lock.  A pending timer holds a reference on the socket
 * (sk_reset_timer / sk_stop_timer).
 */
#include <linux/jiffies.h>

#include "mqtt.h"

static void mqtt_connect_timer_fn(struct timer_list *t)
{
	struct mqtt_sock *msk = from_timer(msk, t, connect_timer);

	set_bit(MQTT_EV_TIMEOUT, &msk->events);
	mqtt_kick(msk);
	sock_put(&msk->sk);
}

/**
 * mqtt_timers_init() - set up a new socket's timers
 * @msk: the socket
 */
void mqtt_timers_init(struct mqtt_sock *msk)
{
	timer_setup(&msk->connect_timer, mqtt_connect_timer_fn, 0);
}

/**
 * mqtt_connect_timer_start() - arm the deadline of the whole connect
 * @msk: the socket, locked
 */
void mqtt_connect_timer_start(struct mqtt_sock *msk)
{
	sk_reset_timer(&msk->sk, &msk->connect_timer,
		       jiffies + msecs_to_jiffies(msk->conf.connect_timeout_ms));
}

/**
 * mqtt_connect_timer_stop() - disarm it, waiting for a running callback
 * @msk: the socket, locked
 *
 * The callback takes no lock, so waiting for it under the socket lock is
 * safe; afterwards it cannot kick the socket any more.
 */
void mqtt_connect_timer_stop(struct mqtt_sock *msk)
{
	sk_stop_timer_sync(&msk->sk, &msk->connect_timer);
}
