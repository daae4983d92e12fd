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
#include <linux/xarray.h>
#include <net/sock.h>
#include <linux/mqtt.h>

#include "codec.h"
#include "compat.h"

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

/* Bits of mqtt_sock.events: set by callbacks and timers, cleared under
 * the socket lock by the session.
 */
enum {
	MQTT_EV_PENDING,	/* something to look at: progress() runs */
	MQTT_EV_TIMEOUT,	/* the connect deadline passed */
	MQTT_EV_KEEPALIVE,	/* the keepalive timer wants a look */
};

/* Driving the state machine: who runs mqtt_session_progress() for an
 * event, and the barriers that make sure someone does.
 *
 *   counter      raised by            while raised, an event    barrier
 *   sync_users   connect(), send(),   wakes the sleepers and    A
 *                close() (session_    queues no work
 *                sync_begin/_end)
 *   rx_waiters   recv() asleep        of more than two bytes    B
 *                (MQTT_WAIT_RX)       from TCP wakes the reader
 *                                     and queues no work
 *   neither      -                    queues the work
 *
 * A: mqtt_session_kick() sets MQTT_EV_PENDING, smp_mb__after_atomic(),
 *    reads sync_users; mqtt_session_sync_end() decrements sync_users,
 *    smp_mb__after_atomic(), tests MQTT_EV_PENDING and kicks again.
 *    Either the kick sees the driver, or the driver's last look sees
 *    the event.
 * B: mqtt_session_kick_data() sets MQTT_EV_PENDING,
 *    smp_mb__after_atomic(), reads rx_waiters; mqtt_sock_wait() with
 *    MQTT_WAIT_RX decrements rx_waiters, smp_mb__after_atomic(), tests
 *    MQTT_EV_PENDING and runs progress.
 * C: progress clears MQTT_EV_PENDING, then smp_mb__after_atomic(), then
 *    reads the TCP socket: an event noted after the clear sets the bit
 *    again and is looked at by the next run.
 *
 * So every sleep in a system call must also end on MQTT_EV_PENDING and
 * then run progress: mqtt_sock_wait() is the one place that does.
 */

/* Payloads up to this size are copied next to the PUBLISH's head and go
 * to TCP in one call; larger ones go from the caller's memory.
 */
#define MQTT_TX_INLINE_MAX	256

/* What an outgoing packet identifier waits for. */
enum mqtt_flow_kind {
	MQTT_FLOW_PUBACK,	/* QoS 1 PUBLISH sent */
	MQTT_FLOW_PUBREC,	/* QoS 2 PUBLISH sent */
	MQTT_FLOW_PUBCOMP,	/* QoS 2 PUBREL sent */
	MQTT_FLOW_SUBACK,	/* SUBSCRIBE sent */
	MQTT_FLOW_UNSUBACK,	/* UNSUBSCRIBE sent */
	MQTT_FLOW_UNREPORTED,	/* PUBLISH done, its report not yet queued */
};

/**
 * struct mqtt_flow - an outgoing packet identifier in use (socket lock)
 * @kind: what it waits for
 * @pid: its packet identifier
 * @seq: delivery report number of a PUBLISH
 * @err: outcome of an UNREPORTED PUBLISH: 0 or the errno that lost it
 * @result: SUBACK return code, once @done
 * @done: the (UN)SUBACK arrived
 * @abandoned: its waiter left (timeout, signal): free when it arrives
 * @unreported: link in mqtt_sock.unreported
 */
struct mqtt_flow {
	enum mqtt_flow_kind kind;
	u16 pid;
	u32 seq;
	int err;
	u8 result;
	bool done;
	bool abandoned;
	struct list_head unreported;
};

/**
 * struct mqtt_ids - packet identifiers in use, allocated on first use
 * @out: outgoing identifier -> struct mqtt_flow
 * @in_qos2: identifiers of incoming QoS 2 PUBLISHes awaiting PUBREL
 * @unreported: flows done whose report found the error queue full
 * @next_pid: where xa_alloc_cyclic() looks next in @out
 * @tx_seq: delivery report number of the next QoS 1/2 PUBLISH
 * @inflight: PUBLISH flows in @out, the send window's use; read
 *	locklessly by poll
 * @unreported_n: flows on @unreported; they keep their window slots;
 *	read locklessly by poll
 *
 * Only QoS 1/2 and (un)subscribing use identifiers: a session that never
 * does, such as an idle one, does without.  Socket lock; freed with the
 * socket.
 */
struct mqtt_ids {
	struct xarray out;
	struct xarray in_qos2;
	struct list_head unreported;
	u32 next_pid;
	u32 tx_seq;
	u32 inflight;
	u32 unreported_n;
};

/**
 * struct mqtt_rx_msg - a received PUBLISH waiting for recvmsg
 * @list: link in mqtt_sock.rxq
 * @pub: where topic and payload are in @body
 * @size: bytes charged to the receive budget
 * @body: the PUBLISH after its fixed header
 */
struct mqtt_rx_msg {
	struct list_head list;
	struct mqtt_publish_info pub;
	u32 size;
	u8 body[];
};

/**
 * struct mqtt_txbuf - bytes for the broker that TCP has not taken yet
 * @list: link in mqtt_sock.txq
 * @len: bytes in @data
 * @off: bytes of @data already sent
 * @room: size of @data
 * @secret: holds the CONNECT, alone: zeroed when freed (the password)
 * @data: whole packets, or the rest of one partly sent
 */
struct mqtt_txbuf {
	struct list_head list;
	u32 len;
	u32 off;
	u32 room;
	bool secret;
	u8 data[];
};

/* The string and binary options, kept together in struct mqtt_strings.
 * The publish topic first: send() looks it up for every message.
 */
enum mqtt_str {
	MQTT_STR_PUBLISH_TOPIC,
	MQTT_STR_CLIENT_ID,
	MQTT_STR_USERNAME,
	MQTT_STR_PASSWORD,
	MQTT_STR_WILL_TOPIC,
	MQTT_STR_WILL_MESSAGE,
	MQTT_STR_NR,
};

/**
 * struct mqtt_strings - the string and binary options, in one allocation
 * @set: bit (BIT(enum mqtt_str)) per option set; an empty value is set
 * @data: for each option set, in enum order, its length (two bytes, big
 *	endian, as MQTT writes lengths) and its bytes
 *
 * Every socket keeps its options for as long as it lives, and most set
 * one or two: one allocation sized to fit costs least.  Replaced whole
 * when an option changes, and zeroed when freed: the password is among
 * them.
 */
struct mqtt_strings {
	u8 set;
	u8 data[];
};

/**
 * struct mqtt_config - what setsockopt(SOL_MQTT) configures
 * @strings: the string and binary options, NULL while none is set
 * @connect_timeout_ms: MQTT_CONNECT_TIMEOUT
 * @ack_timeout_ms: MQTT_ACK_TIMEOUT
 * @recv_max: MQTT_RECV_MAX
 * @keepalive: MQTT_KEEPALIVE, in seconds
 * @inflight_max: MQTT_INFLIGHT_MAX; read locklessly by poll
 * @level: MQTT_PROTOCOL_LEVEL
 * @will_qos: MQTT_WILL_QOS
 * @publish_qos: MQTT_PUBLISH_QOS
 * @will_retain: MQTT_WILL_RETAIN
 * @clean_session: MQTT_CLEAN_SESSION
 * @publish_retain: MQTT_PUBLISH_RETAIN
 * @delivery_reports: MQTT_DELIVERY_REPORTS
 *
 * Changed under the socket lock; the connect options only while
 * MQTT_UNCONNECTED.  The password is zeroed whenever it is replaced or
 * freed.
 */
struct mqtt_config {
	struct mqtt_strings *strings;
	u32 connect_timeout_ms;
	u32 ack_timeout_ms;
	u32 recv_max;
	u16 keepalive;
	u16 inflight_max;
	u8 level;
	u8 will_qos;
	u8 publish_qos;
	bool will_retain;
	bool clean_session;
	bool publish_retain;
	bool delivery_reports;
};

/**
 * struct mqtt_pub_args - topic, QoS and retain of one send()
 * @topic: the topic name: the socket's default or a cmsg's
 * @topic_len: its length
 * @qos: the QoS
 * @retain: the RETAIN flag
 */
struct mqtt_pub_args {
	const u8 *topic;
	u32 topic_len;
	u8 qos;
	bool retain;
};

struct mqtt_transport;

/**
 * struct mqtt_sock - an AF_MQTT socket
 * @sk: the socket; first, so that sk and mqtt_sock convert by cast.  Its
 *	sk_timer is the session's one timer: the connect deadline while
 *	CONNECTING, the PINGREQ and PINGRESP deadlines while CONNECTED (the
 *	two never overlap); it holds a reference on @sk while pending
 * @conf: options (config.c; socket lock; inflight_max also read
 *	locklessly by poll)
 * @xprt: the connection to the broker, present in CONNECTING and
 *	CONNECTED, and while UNCONNECTED once the application attached a
 *	socket (transport.c; socket lock)
 * @txq: struct mqtt_txbuf list, in wire order; while CONNECTING, the
 *	CONNECT until TCP took all of it (tx.c; socket lock).  Its unsent
 *	bytes are counted in sk->sk_wmem_queued, read locklessly by poll
 *	(and shown by SO_MEMINFO)
 * @ids: packet identifiers in use, NULL until first needed (flow.c); set
 *	once under the socket lock, read locklessly by poll, freed with the
 *	socket
 * @rxq: struct mqtt_rx_msg list for recvmsg (rx.c; socket lock)
 * @rx_msg: body of the PUBLISH being received (rx.c; socket lock)
 * @last_tx: jiffies when bytes last went to TCP (transport.c; written
 *	under the socket lock, read locklessly by the keepalive timer)
 * @events: MQTT_EV_* bits (session.c; atomic: set from any context,
 *	cleared under the socket lock)
 * @work: runs mqtt_session_progress() in process context; holds a
 *	reference on @sk while queued (session.c)
 * @rx_queued: bytes charged by @rxq (rx.c; socket lock, read locklessly
 *	by poll)
 * @rx_remlen: Remaining Length of the packet being received, once
 *	@rx_hdr is complete (rx.c; socket lock)
 * @rx_got: body bytes of it received so far (rx.c; socket lock)
 * @sync_users: system calls driving the state machine themselves
 *	(session.c; atomic, see "Driving the state machine")
 * @rx_waiters: recv() calls asleep that read TCP themselves when data
 *	comes (af_mqtt.c; atomic, see "Driving the state machine")
 * @tls_alert: the last TLS alert the broker sent on this connection, as
 *	(level << 8) | description; 0 for none (transport.c; socket lock)
 * @connack: the broker's CONNACK, valid when @connack_valid (session.c;
 *	socket lock)
 * @rx_hdr: fixed header of the packet being received; while CONNECTING,
 *	the CONNACK as it arrives (rx.c; socket lock)
 * @rx_hdr_len: bytes in @rx_hdr (rx.c, reset by the session at connect;
 *	socket lock)
 * @rx_ctl: body of a packet other than PUBLISH (rx.c; socket lock)
 * @connack_valid: a CONNACK arrived on the last connect (session.c;
 *	socket lock)
 * @tcp_fin: TCP's sending side was shut after DISCONNECT (session.c;
 *	socket lock)
 * @tx_stalled: @txq waited for TCP with the lock released, so a sender
 *	may be waiting for it to empty (tx.c; socket lock)
 * @rx_body: @rx_hdr is complete; the body is being received (rx.c;
 *	socket lock)
 * @rx_blocked: receiving stopped for lack of budget, back-pressure (rx.c;
 *	socket lock)
 * @ping_outstanding: a PINGREQ awaits any packet from the broker; the
 *	timer is armed for its deadline meanwhile (session.c sets it, rx.c
 *	clears it on any packet; written under the socket lock, read
 *	locklessly by the keepalive timer)
 */
struct mqtt_sock {
	struct sock sk;

	/* By size, then by concern, to leave no holes: this struct is most
	 * of what a session adds to its TCP socket.
	 */
	struct mqtt_config conf;
	struct mqtt_transport *xprt;
	struct list_head txq;
	struct mqtt_ids *ids;
	struct list_head rxq;
	struct mqtt_rx_msg *rx_msg;
	unsigned long last_tx;
	unsigned long events;
	struct work_struct work;

	u32 rx_queued;
	u32 rx_remlen;
	u32 rx_got;
	atomic_t sync_users;
	atomic_t rx_waiters;

	u16 tls_alert;
	struct mqtt_connack_info connack;
	u8 rx_hdr[MQTT_FIXED_HDR_MAX];
	u8 rx_hdr_len;
	u8 rx_ctl[MQTT_SUBACK_REMLEN];
	bool connack_valid;
	bool tcp_fin;
	bool tx_stalled;
	bool rx_body;
	bool rx_blocked;
	bool ping_outstanding;
};

/* The socket: accessors and checks any layer may use. */

static inline struct mqtt_sock *mqtt_sk(const struct sock *sk)
{
	return (struct mqtt_sock *)sk;
}

/* The lock rule of a function documented "the socket, locked", checked
 * on lockdep kernels.
 */
static inline void mqtt_lock_held(const struct mqtt_sock *msk)
{
	sock_owned_by_me(&msk->sk);
}

/* "Locked or dying": the destructor runs unlocked, with no reference
 * left and nothing else able to reach the socket.
 */
static inline void mqtt_lock_held_or_dying(const struct mqtt_sock *msk)
{
	if (refcount_read(&msk->sk.sk_refcnt))
		mqtt_lock_held(msk);
}

static inline enum mqtt_state mqtt_state(const struct sock *sk)
{
	return READ_ONCE(sk->sk_state);
}

static inline void mqtt_set_state(struct sock *sk, enum mqtt_state state)
{
	WRITE_ONCE(sk->sk_state, state);
}

/* Wake writers and POLLOUT waiters. */
static inline void mqtt_write_space(struct sock *sk)
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

/* af_mqtt.c, sockopt.c: the system calls */

/* mqtt_sock_wait() flags */
#define MQTT_WAIT_RX		BIT(0)	/* a reader: counts in rx_waiters */

int mqtt_sock_wait(struct mqtt_sock *msk, long *timeo,
		   bool (*done)(const struct mqtt_sock *msk, const void *arg),
		   const void *arg, unsigned int flags);
int mqtt_sockopt_set(struct socket *sock, int level, int optname,
		     sockptr_t optval, unsigned int optlen);
int mqtt_sockopt_get(struct socket *sock, int level, int optname,
		     char __user *optval, int __user *optlen);

/* session.c: the state machine */

/* An event waits for mqtt_session_progress(); lockless. */
static inline bool mqtt_session_pending(const struct mqtt_sock *msk)
{
	return test_bit(MQTT_EV_PENDING, &msk->events);
}

int __init mqtt_session_module_init(void);
void mqtt_session_module_exit(void);
void mqtt_session_init(struct mqtt_sock *msk);
void mqtt_session_destroy(struct mqtt_sock *msk);
void mqtt_session_kick(struct mqtt_sock *msk);
void mqtt_session_kick_data(struct mqtt_sock *msk, size_t unread);
void mqtt_session_sync_begin(struct mqtt_sock *msk);
void mqtt_session_sync_end(struct mqtt_sock *msk);
void mqtt_session_progress(struct mqtt_sock *msk);
int mqtt_session_connect(struct mqtt_sock *msk, struct sockaddr *addr,
			 int addrlen);
int mqtt_session_publish(struct mqtt_sock *msk, const struct mqtt_pub_args *a,
			 u32 remlen, struct iov_iter *iter);
int mqtt_session_subscribe(struct mqtt_sock *msk, bool sub, const u8 *filter,
			   u32 len, u8 qos, struct mqtt_flow **flowp);
void mqtt_session_fail(struct mqtt_sock *msk, int err);
int mqtt_session_shutdown(struct mqtt_sock *msk, int how);
bool mqtt_session_lingers(struct mqtt_sock *msk);
void mqtt_session_release(struct mqtt_sock *msk);

/* timers.c: the session's timer */
void mqtt_timer_init(struct mqtt_sock *msk);
void mqtt_timer_arm(struct mqtt_sock *msk, unsigned long expires);
void mqtt_timer_connect_start(struct mqtt_sock *msk);
void mqtt_timer_keepalive_start(struct mqtt_sock *msk);
void mqtt_timer_ping_start(struct mqtt_sock *msk, unsigned long now);
unsigned long mqtt_timer_keepalive_due(const struct mqtt_sock *msk);
void mqtt_timer_stop(struct mqtt_sock *msk);

/* rx.c: receiving, the receive queue */
void mqtt_rx_init(struct mqtt_sock *msk);
int mqtt_rx_connack(struct mqtt_sock *msk);
int mqtt_rx(struct mqtt_sock *msk);
int mqtt_rx_recv(struct mqtt_sock *msk, struct msghdr *msg, size_t len,
		 int flags);
void mqtt_rx_purge(struct mqtt_sock *msk, bool all);

/* tx.c: the send queue, PUBLISH framing */

/* Bytes in the send queue TCP has not taken; lockless for poll. */
static inline int mqtt_txq_bytes(const struct mqtt_sock *msk)
{
	return READ_ONCE(msk->sk.sk_wmem_queued);
}

/* Count @delta more (or fewer) bytes in the send queue; socket lock. */
static inline void mqtt_txq_add(struct mqtt_sock *msk, int delta)
{
	WRITE_ONCE(msk->sk.sk_wmem_queued, msk->sk.sk_wmem_queued + delta);
}

void mqtt_tx_init(struct mqtt_sock *msk);
bool mqtt_tx_ready(const struct mqtt_sock *msk);
int mqtt_tx_queue(struct mqtt_sock *msk, const void *buf, size_t len);
u8 *mqtt_tx_queue_secret(struct mqtt_sock *msk, size_t len);
int mqtt_tx_flush(struct mqtt_sock *msk);
void mqtt_tx_purge(struct mqtt_sock *msk);
int mqtt_tx_publish(struct mqtt_sock *msk, const struct mqtt_pub_args *a,
		    u32 remlen, struct iov_iter *iter, bool *broken);

/* flow.c: packet identifiers, the send window, delivery reports */

/* PUBLISH flows in flight; socket lock, or lockless for poll. */
static inline u32 mqtt_inflight(const struct mqtt_sock *msk)
{
	const struct mqtt_ids *ids = READ_ONCE(msk->ids);

	return ids ? READ_ONCE(ids->inflight) : 0;
}

/* Send window slots in use: flows in flight and finished ones whose
 * report waits for room; socket lock, or lockless for poll.
 */
static inline u32 mqtt_window_used(const struct mqtt_sock *msk)
{
	const struct mqtt_ids *ids = READ_ONCE(msk->ids);

	return ids ? READ_ONCE(ids->inflight) + READ_ONCE(ids->unreported_n) :
		     0;
}

struct mqtt_ids *mqtt_flow_ids_get(struct mqtt_sock *msk);
void mqtt_flow_ids_free(struct mqtt_sock *msk);
int mqtt_flow_alloc(struct mqtt_sock *msk, enum mqtt_flow_kind kind,
		    struct mqtt_flow **flowp);
struct mqtt_flow *mqtt_flow_find(struct mqtt_sock *msk, u16 pid);
void mqtt_flow_free(struct mqtt_sock *msk, u16 pid);
void mqtt_flow_published(struct mqtt_sock *msk, struct mqtt_flow *flow);
void mqtt_flow_complete(struct mqtt_sock *msk, u16 pid, int err);
void mqtt_flow_sub_done(struct mqtt_sock *msk, struct mqtt_flow *flow,
			u8 result);
bool mqtt_flow_sub_end(struct mqtt_sock *msk, struct mqtt_flow *flow,
		       int *result);
void mqtt_flow_fail_all(struct mqtt_sock *msk, int err);
void mqtt_flow_reports_retry(struct mqtt_sock *msk);
int mqtt_flow_qos2_arrived(struct mqtt_sock *msk, u16 pid);
void mqtt_flow_qos2_released(struct mqtt_sock *msk, u16 pid);
void mqtt_flow_qos2_forget(struct mqtt_sock *msk);

/* config.c: the option store */
void mqtt_config_init(struct mqtt_config *conf);
void mqtt_config_free(struct mqtt_config *conf);
bool mqtt_config_connect_opt(int optname);
struct mqtt_field mqtt_config_str(const struct mqtt_config *conf,
				  enum mqtt_str which);
int mqtt_config_set(struct mqtt_sock *msk, int optname, sockptr_t optval,
		    unsigned int optlen);
int mqtt_config_get(struct mqtt_sock *msk, int optname, int *val,
		    struct mqtt_field *str);

/* transport.c: the inner TCP socket */
int mqtt_transport_attach_fd(struct mqtt_sock *msk, int fd);
int mqtt_transport_open(struct mqtt_sock *msk, struct sockaddr *addr,
			int addrlen);
void mqtt_transport_close(struct mqtt_sock *msk, bool abort);
void mqtt_transport_shutdown(struct mqtt_sock *msk);
int mqtt_transport_getname(struct mqtt_sock *msk, struct sockaddr *addr,
			   int peer);
int mqtt_transport_send(struct mqtt_sock *msk, struct kvec *vec, size_t nr,
			size_t len, int flags);
int mqtt_transport_send_packet(struct mqtt_sock *msk, struct kvec *vec,
			       size_t nr, size_t head, struct iov_iter *iter);
int mqtt_transport_recv(struct mqtt_sock *msk, void *buf, size_t len);
int mqtt_transport_read(struct mqtt_sock *msk, sk_read_actor_t actor);
int mqtt_transport_status(struct mqtt_sock *msk);
int mqtt_transport_error(struct mqtt_sock *msk);
bool mqtt_transport_eof(struct mqtt_sock *msk);

/* tls.c: kTLS records on an attached socket */

/* A handshake message's header: type, 24-bit length (RFC 8446 4). */
#define MQTT_TLS_HS_HDR_SIZE	4

/**
 * struct mqtt_tls_rx - a handshake message read in part (tls.c)
 * @hs_skip: bytes of the current message's body still to come
 * @hs_hdr: the next message's header, as it comes
 * @hs_hdr_len: bytes in @hs_hdr
 *
 * Kept by the transport per connection; socket lock.
 */
struct mqtt_tls_rx {
	u32 hs_skip;
	u8 hs_hdr[MQTT_TLS_HS_HDR_SIZE];
	u8 hs_hdr_len;
};

int mqtt_tls_probe(struct sock *tsk, u16 *overhead);
int mqtt_tls_recv(struct socket *sock, void *buf, size_t len, u8 *type);
bool mqtt_tls_is_data(u8 type);
int mqtt_tls_control(struct mqtt_tls_rx *st, u8 type, const u8 *rec, int len,
		     u16 *alert);
int mqtt_tls_close_notify(struct socket *sock);

#endif /* _NET_MQTT_MQTT_H */
