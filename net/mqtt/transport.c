// SPDX-License-Identifier: GPL-2.0
/*
 * The transport: the inner TCP socket, opened on the caller's behalf,
 * its callbacks, and non-blocking byte transfer for the layers above.
 * The lowest layer but the codec: it calls nothing of net/mqtt except
 * the session's upcall.
 *
 * The callbacks run in softirq context with the TCP socket's bh lock
 * held.  They only note that something happened, through the one upcall
 * (mqtt_session_kick(), mqtt_session_kick_data()); all reading, writing
 * and state changes happen in process context under the AF_MQTT socket
 * lock, which is always taken before the TCP socket's.
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <net/ipv6.h>
#include <net/tcp.h>
#include <net/tcp_states.h>

#include "mqtt.h"

/**
 * struct mqtt_transport - the inner socket of a connection
 * @sock: the TCP socket to the broker
 * @data_ready: @sock's callback before ours, put back on detach
 * @state_change: likewise
 * @write_space: likewise
 *
 * Allocated when connect() opens the connection and freed when it ends:
 * an idle socket that never connects does without.  The callbacks are
 * saved per socket, as kTLS and sunrpc save theirs, because whatever
 * made the socket (TCP, and on top of it a ULP such as kTLS) decides
 * them.  Socket lock of the AF_MQTT socket; the callbacks change under
 * @sock's sk_callback_lock.
 */
struct mqtt_transport {
	struct socket *sock;
	void (*data_ready)(struct sock *sk);
	void (*state_change)(struct sock *sk);
	void (*write_space)(struct sock *sk);
};

/* sk_user_data of the TCP socket points to the mqtt_sock while it is
 * attached; it and the callbacks change under sk_callback_lock.
 */
static struct mqtt_sock *mqtt_from_tcp(struct sock *tsk)
{
	return tsk->sk_user_data;
}

/* The upcall: TCP's events go to the session's mqtt_session_kick(). */
static void mqtt_transport_event(struct sock *tsk)
{
	struct mqtt_sock *msk;

	read_lock_bh(&tsk->sk_callback_lock);
	msk = mqtt_from_tcp(tsk);
	if (msk)
		mqtt_session_kick(msk);
	read_unlock_bh(&tsk->sk_callback_lock);
}

static void mqtt_transport_data_ready(struct sock *tsk)
{
	struct mqtt_sock *msk;

	read_lock_bh(&tsk->sk_callback_lock);
	msk = mqtt_from_tcp(tsk);
	if (msk)
		mqtt_session_kick_data(msk, tcp_inq(tsk));
	read_unlock_bh(&tsk->sk_callback_lock);
}

static void mqtt_transport_write_space(struct sock *tsk)
{
	/* Wake only once a useful amount of room is free, as TCP does. */
	if (!sk_stream_is_writeable(tsk) || !tsk->sk_socket)
		return;
	clear_bit(SOCK_NOSPACE, &tsk->sk_socket->flags);
	mqtt_transport_event(tsk);
}

static void mqtt_transport_attach(struct mqtt_sock *msk,
				  struct mqtt_transport *xprt)
{
	struct sock *tsk = xprt->sock->sk;

	write_lock_bh(&tsk->sk_callback_lock);
	xprt->data_ready = tsk->sk_data_ready;
	xprt->state_change = tsk->sk_state_change;
	xprt->write_space = tsk->sk_write_space;
	tsk->sk_user_data = msk;
	tsk->sk_data_ready = mqtt_transport_data_ready;
	tsk->sk_state_change = mqtt_transport_event;
	tsk->sk_write_space = mqtt_transport_write_space;
	write_unlock_bh(&tsk->sk_callback_lock);
}

/* After this returns no callback of the socket can reach its mqtt_sock. */
static void mqtt_transport_detach(struct mqtt_transport *xprt)
{
	struct sock *tsk = xprt->sock->sk;

	write_lock_bh(&tsk->sk_callback_lock);
	tsk->sk_user_data = NULL;
	tsk->sk_data_ready = xprt->data_ready;
	tsk->sk_state_change = xprt->state_change;
	tsk->sk_write_space = xprt->write_space;
	write_unlock_bh(&tsk->sk_callback_lock);
}

/* The TCP socket of a connection; every user holds the socket lock. */
static struct socket *mqtt_transport_sock(struct mqtt_sock *msk)
{
	mqtt_lock_held(msk);
	return msk->xprt->sock;
}

static int mqtt_check_addr(const struct sockaddr *addr, int addrlen)
{
	if (addrlen < (int)sizeof(addr->sa_family))
		return -EINVAL;
	switch (addr->sa_family) {
	case AF_INET:
		return addrlen < (int)sizeof(struct sockaddr_in) ? -EINVAL : 0;
	case AF_INET6:
		return addrlen < SIN6_LEN_RFC2133 ? -EINVAL : 0;
	default:
		return -EAFNOSUPPORT;
	}
}

/**
 * mqtt_transport_open() - start a TCP connection to the broker
 * @msk: the socket, locked, without a connection
 * @addr: the broker's sockaddr_in or sockaddr_in6
 * @addrlen: its length
 *
 * The TCP socket is created as the caller would create it: in the
 * caller's network namespace, which it keeps alive, with the caller's
 * credentials for the LSM socket-create hook and the caller's cgroup for
 * BPF connect hooks.  The connect itself never blocks; progress is
 * reported through the upcall, mqtt_session_kick().
 *
 * Return: 0 when the handshake is under way (or done), else -errno.
 */
int mqtt_transport_open(struct mqtt_sock *msk, struct sockaddr *addr,
			int addrlen)
{
	struct mqtt_transport *xprt;
	int err;

	mqtt_lock_held(msk);
	err = mqtt_check_addr(addr, addrlen);
	if (err)
		return err;
	xprt = kzalloc(sizeof(*xprt), GFP_KERNEL_ACCOUNT);
	if (!xprt)
		return -ENOMEM;
	err = __sock_create(sock_net(&msk->sk), addr->sa_family, SOCK_STREAM,
			    IPPROTO_TCP, &xprt->sock, 0);
	if (err) {
		kfree(xprt);
		/* socket(2)'s ENFILE for a failed allocation means ENOMEM. */
		return err == -ENFILE ? -ENOMEM : err;
	}
	mqtt_transport_attach(msk, xprt);
	/* MQTT packets are small and latency-bound. */
	tcp_sock_set_nodelay(xprt->sock->sk);
	msk->xprt = xprt;

	err = kernel_connect(xprt->sock, (struct sockaddr_unsized *)addr, addrlen,
			     O_NONBLOCK);
	if (err && err != -EINPROGRESS) {
		mqtt_transport_close(msk, false);
		return err;
	}
	return 0;
}

/**
 * mqtt_transport_close() - detach from and release the TCP socket
 * @msk: the socket, locked
 * @abort: reset the connection instead of closing it in order
 */
void mqtt_transport_close(struct mqtt_sock *msk, bool abort)
{
	struct mqtt_transport *xprt = msk->xprt;

	mqtt_lock_held(msk);
	if (!xprt)
		return;
	msk->xprt = NULL;
	mqtt_transport_detach(xprt);
	if (abort)
		sock_no_linger(xprt->sock->sk);
	sock_release(xprt->sock);
	kfree(xprt);
}

/**
 * mqtt_transport_shutdown() - close the sending side (TCP's FIN)
 * @msk: the socket, locked, with a connection
 */
void mqtt_transport_shutdown(struct mqtt_sock *msk)
{
	kernel_sock_shutdown(mqtt_transport_sock(msk), SHUT_WR);
}

/**
 * mqtt_transport_getname() - the connection's local or remote address
 * @msk: the socket, locked, with a connection
 * @addr: where to put it
 * @peer: the broker's (1) or ours (0)
 *
 * Return: the address's length, or -errno.
 */
int mqtt_transport_getname(struct mqtt_sock *msk, struct sockaddr *addr,
			   int peer)
{
	struct socket *sock = mqtt_transport_sock(msk);

	return peer ? kernel_getpeername(sock, addr) :
		      kernel_getsockname(sock, addr);
}

/* TCP's EPIPE (a send after the broker closed, or a reset in
 * CLOSE_WAIT) is, for the session, the broker resetting it; EPIPE stays
 * what send() says after the session's own end or shutdown.
 */
static int mqtt_transport_errno(int err)
{
	return err == -EPIPE ? -ECONNRESET : err;
}

/* What a send to TCP returned, as the session sees it. */
static int mqtt_transport_sent(struct mqtt_sock *msk, int n)
{
	if (n > 0)
		WRITE_ONCE(msk->last_tx, jiffies);
	return mqtt_transport_errno(n);
}

/**
 * mqtt_transport_send() - queue bytes on the TCP socket without blocking
 * @msk: the socket, locked, with a connection
 * @vec: the bytes
 * @nr: number of @vec entries
 * @len: their total length
 * @flags: 0, or MSG_MORE when more of the packet follows at once
 *
 * Return: bytes accepted (maybe fewer than @len), -EAGAIN when the send
 * buffer is full (a write-space event follows), -ECONNRESET when the
 * broker had closed, else -errno.
 */
int mqtt_transport_send(struct mqtt_sock *msk, struct kvec *vec, size_t nr,
			size_t len, int flags)
{
	struct msghdr msg = {
		.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL | flags,
	};

	return mqtt_transport_sent(msk, kernel_sendmsg(mqtt_transport_sock(msk),
						       &msg, vec, nr, len));
}

/* The payload's part of mqtt_transport_send_packet(), TCP socket locked. */
static int mqtt_transport_send_payload(struct sock *tsk, struct iov_iter *iter)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	size_t len = iov_iter_count(iter);
	int n;

	msg.msg_iter = *iter;
	n = tcp_sendmsg_locked(tsk, &msg, len);
	if (n > 0)
		iov_iter_advance(iter, n);
	return n;
}

/**
 * mqtt_transport_send_packet() - hand TCP a packet: head, then payload
 * @msk: the socket, locked, with a connection
 * @vec: the head (fixed header, topic, packet identifier)
 * @nr: number of @vec entries
 * @head: their total length
 * @iter: the payload, in the caller's memory; advanced past what TCP took
 *
 * Both parts go to TCP under one hold of its lock and leave in one push:
 * the head is queued with MSG_MORE and the payload completes the segment.
 * TCP copies the payload straight from the caller's memory.  As kTLS
 * does, this calls tcp_sendmsg_locked() directly, so the LSM's
 * socket_sendmsg hook runs once per send(), on the AF_MQTT socket.  When
 * something replaced the TCP socket's proto (a sockmap), each part goes
 * through sock_sendmsg() instead.
 *
 * Return: the bytes TCP accepted, head first (maybe fewer than the
 * packet), -EAGAIN when it took none (a write-space event follows),
 * -ECONNRESET when the broker had closed, else -errno.
 */
int mqtt_transport_send_packet(struct mqtt_sock *msk, struct kvec *vec,
			       size_t nr, size_t head, struct iov_iter *iter)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct socket *sock = mqtt_transport_sock(msk);
	struct sock *tsk = sock->sk;
	int n, m = 0;

	if (iov_iter_count(iter))
		msg.msg_flags |= MSG_MORE;
	if (READ_ONCE(tsk->sk_prot)->sendmsg != tcp_sendmsg) {
		n = kernel_sendmsg(sock, &msg, vec, nr, head);
		if (n == head && iov_iter_count(iter)) {
			msg.msg_flags &= ~MSG_MORE;
			msg.msg_iter = *iter;
			m = sock_sendmsg(sock, &msg);
			if (m > 0)
				iov_iter_advance(iter, m);
		}
	} else {
		iov_iter_kvec(&msg.msg_iter, WRITE, vec, nr, head);
		lock_sock(tsk);
		n = tcp_sendmsg_locked(tsk, &msg, head);
		if (n == head && iov_iter_count(iter))
			m = mqtt_transport_send_payload(tsk, iter);
		release_sock(tsk);
	}
	/* The head is out: what TCP says of the payload adds to it. */
	if (m > 0)
		n += m;
	else if (m < 0 && m != -EAGAIN)
		n = m;
	return mqtt_transport_sent(msk, n);
}

/**
 * mqtt_transport_read() - hand what TCP received to @actor
 * @msk: the socket, locked, with a connection
 * @actor: consumes bytes; returning 0 stops the reading, and a -errno
 *	it leaves in desc->error is returned
 *
 * The actor runs in process context with the TCP socket locked, so it may
 * sleep, but it must not send on the TCP socket.
 *
 * Return: bytes consumed, or -errno.
 */
int mqtt_transport_read(struct mqtt_sock *msk, sk_read_actor_t actor)
{
	read_descriptor_t desc = { .arg.data = msk, .count = 1 };
	struct sock *tsk = mqtt_transport_sock(msk)->sk;
	int n;

	lock_sock(tsk);
	n = tcp_read_sock(tsk, &desc, actor);
	release_sock(tsk);
	return desc.error ? desc.error : n;
}

/**
 * mqtt_transport_eof() - has the broker closed its side, all bytes read
 * @msk: the socket, locked, with a connection
 *
 * Return: true at end of stream.
 */
bool mqtt_transport_eof(struct mqtt_sock *msk)
{
	struct sock *tsk = mqtt_transport_sock(msk)->sk;

	/* RCV_SHUTDOWN: the broker's FIN came (our own FIN does not set it). */
	return (READ_ONCE(tsk->sk_shutdown) & RCV_SHUTDOWN) &&
	       skb_queue_empty_lockless(&tsk->sk_receive_queue);
}

/**
 * mqtt_transport_recv() - read bytes from the TCP socket without blocking
 * @msk: the socket, locked, with a connection
 * @buf: where to put them
 * @len: at most this many
 *
 * Return: bytes read, 0 at end of stream, -EAGAIN when none are queued,
 * else -errno.
 */
int mqtt_transport_recv(struct mqtt_sock *msk, void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	struct kvec iov = { .iov_base = buf, .iov_len = len };

	return mqtt_transport_errno(kernel_recvmsg(mqtt_transport_sock(msk),
						   &msg, &iov, 1, len,
						   MSG_DONTWAIT));
}

/**
 * mqtt_transport_status() - how the TCP connection stands
 * @msk: the socket, locked, with a connection
 *
 * Return: 1 while the handshake is still under way, 0 when bytes can
 * flow (maybe one way only), else the -errno that ended the connection.
 */
int mqtt_transport_status(struct mqtt_sock *msk)
{
	struct sock *tsk = mqtt_transport_sock(msk)->sk;
	int err;

	switch (READ_ONCE(tsk->sk_state)) {
	case TCP_SYN_SENT:
		return 1;
	case TCP_CLOSE:
		err = mqtt_transport_errno(sock_error(tsk));
		return err ? err : -ECONNRESET;
	default:
		return 0;
	}
}

/**
 * mqtt_transport_error() - take the TCP socket's pending error
 * @msk: the socket, locked, with a connection
 *
 * Return: -errno, or 0 when there is none.
 */
int mqtt_transport_error(struct mqtt_sock *msk)
{
	return mqtt_transport_errno(sock_error(mqtt_transport_sock(msk)->sk));
}
