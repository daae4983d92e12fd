/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AF_MQTT internals: the socket, its states, and who may touch what.
 */
#ifndef _NET_MQTT_MQTT_H
#define _NET_MQTT_MQTT_H

#include <linux/bitops.h>
#include <linux/net.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <net/sock.h>
#include <linux/mqtt.h>

#include "codec.h"

/* Socket states, kept in sk->sk_state.  Written under the socket lock,
 * read locklessly (READ_ONCE) by poll.
 *
 *   UNCONNECTED --connect()--> CONNECTING --CONNACK 0--> CONNECTED
 *        ^                         |                         |
 *        +------ any failure ------+          TCP lost       v
 *                                                          CLOSED
 *
 * A failed connect returns the socket to UNCONNECTED with the reason in
 * sk_err, so it can be configured again and reused.  A session that was
 * established never goes back: once it ends the socket is CLOSED.
 */
enum mqtt_state {
	MQTT_UNCONNECTED = 1,
	MQTT_CONNECTING,
	MQTT_CONNECTED,
	MQTT_CLOSED,
};

/* Bits of mqtt_sock.events: set by callbacks and timers, cleared under lock. */
enum {
	MQTT_EV_PENDING,	/* something to look at: progress() runs */
	MQTT_EV_TIMEOUT,	/* the connect deadline passed */
};

/* Bits of mqtt_sock.flags. */
enum {
	/* A system call holding the socket lock drives the state machine
	 * itself: events wake it instead of queueing work.
	 */
	MQTT_F_SYNC,
};

/**
 * struct mqtt_bytes - a configured string or binary option
 * @data: kvmalloc'ed bytes, NULL when unset (a set empty value is
 *	ZERO_SIZE_PTR)
 * @len: byte count, at most %MQTT_MAX_FIELD_LEN
 */
struct mqtt_bytes {
	u8 *data;
	u32 len;
};

/**
 * struct mqtt_config - what setsockopt(SOL_MQTT) configures
 *
 * Changed only in MQTT_UNCONNECTED, under the socket lock.  The password
 * is zeroed whenever it is replaced or freed.
 */
struct mqtt_config {
	struct mqtt_bytes client_id;
	struct mqtt_bytes username;
	struct mqtt_bytes password;
	struct mqtt_bytes will_topic;
	struct mqtt_bytes will_message;
	u32 connect_timeout_ms;
	u16 keepalive;
	u8 level;
	u8 will_qos;
	bool will_retain;
	bool clean_session;
};

/**
 * struct mqtt_sock - an AF_MQTT socket
 * @sk: the socket; first, so that sk and mqtt_sock convert by cast
 * @conf: session options (socket lock)
 * @tcp: the inner TCP socket to the broker, present in CONNECTING and
 *	CONNECTED (socket lock)
 * @tx: bytes of a frame not yet accepted by TCP; kvfree_sensitive'd, since
 *	a CONNECT holds the password (socket lock)
 * @tx_len: size of @tx (socket lock)
 * @tx_off: bytes of @tx already sent (socket lock)
 * @rx: the CONNACK as it arrives (socket lock)
 * @rx_len: bytes of @rx received (socket lock)
 * @connack: the broker's CONNACK, valid when @connack_valid (socket lock)
 * @connack_valid: a CONNACK arrived on the last connect (socket lock)
 * @events: MQTT_EV_* bits, set from any context, atomic
 * @flags: MQTT_F_* bits, atomic
 * @work: runs mqtt_session_progress() in process context; holds a
 *	reference on @sk while queued
 * @connect_timer: the connect deadline; holds a reference on @sk while
 *	pending
 * @saved_data_ready: the inner socket's callback, restored before release
 * @saved_state_change: likewise
 * @saved_write_space: likewise
 */
struct mqtt_sock {
	struct sock sk;

	struct mqtt_config conf;
	struct socket *tcp;
	u8 *tx;
	size_t tx_len;
	size_t tx_off;
	u8 rx[MQTT_CONNACK_SIZE];
	unsigned int rx_len;
	struct mqtt_connack_info connack;
	bool connack_valid;

	unsigned long events;
	unsigned long flags;
	struct work_struct work;
	struct timer_list connect_timer;

	void (*saved_data_ready)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);
};

static inline struct mqtt_sock *mqtt_sk(const struct sock *sk)
{
	return (struct mqtt_sock *)sk;
}

static inline enum mqtt_state mqtt_state(const struct sock *sk)
{
	return READ_ONCE(sk->sk_state);
}

static inline void mqtt_set_state(struct sock *sk, enum mqtt_state state)
{
	WRITE_ONCE(sk->sk_state, state);
}

/* af_mqtt.c */
extern struct workqueue_struct *mqtt_wq;

/* sockopt.c */
void mqtt_config_init(struct mqtt_config *conf);
void mqtt_config_free(struct mqtt_config *conf);
int mqtt_setsockopt(struct socket *sock, int level, int optname,
		    sockptr_t optval, unsigned int optlen);
int mqtt_getsockopt(struct socket *sock, int level, int optname,
		    char __user *optval, int __user *optlen);

/* transport.c */
int mqtt_tcp_open(struct mqtt_sock *msk, struct sockaddr *addr, int addrlen);
void mqtt_tcp_close(struct mqtt_sock *msk, bool abort);
int mqtt_tcp_send(struct mqtt_sock *msk, const void *buf, size_t len);
int mqtt_tcp_recv(struct mqtt_sock *msk, void *buf, size_t len);
int mqtt_tcp_status(struct mqtt_sock *msk, bool peer_fin_ok);

/* session.c */
void mqtt_kick(struct mqtt_sock *msk);
void mqtt_work(struct work_struct *work);
int mqtt_session_connect(struct mqtt_sock *msk, struct sockaddr *addr,
			 int addrlen);
void mqtt_session_progress(struct mqtt_sock *msk);
void mqtt_session_release(struct mqtt_sock *msk);

/* timers.c */
void mqtt_timers_init(struct mqtt_sock *msk);
void mqtt_connect_timer_start(struct mqtt_sock *msk);
void mqtt_connect_timer_stop(struct mqtt_sock *msk);

#endif /* _NET_MQTT_MQTT_H */
