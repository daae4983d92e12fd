// SPDX-License-Identifier: GPL-2.0
/*
 * The inner TCP socket: opening it on the caller's behalf, its callbacks,
 * and non-blocking byte transfer for the session layer.
 *
 * The callbacks run in softirq context with the TCP socket's bh lock held.
 * They only note that something happened (mqtt_kick); all reading,
 * writing and state changes happen in process context under the AF_MQTT
 * socket lock, which is always taken before the TCP socket's.
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/tcp.h>
#include <net/ipv6.h>
#include <net/tcp.h>
#include <net/tcp_states.h>

#include "mqtt.h"

/* sk_user_data of the TCP socket points to the mqtt_sock while it is
 * attached; it and the callbacks change under sk_callback_lock.
 */
static struct mqtt_sock *mqtt_from_tcp(struct sock *tsk)
{
	return tsk->sk_user_data;
}

static void mqtt_tcp_event(struct sock *tsk)
{
	struct mqtt_sock *msk;

	read_lock_bh(&tsk->sk_callback_lock);
	msk = mqtt_from_tcp(tsk);
	if (msk)
		mqtt_kick(msk);
	read_unlock_bh(&tsk->sk_callback_lock);
}

static void mqtt_tcp_data_ready(struct sock *tsk)
{
	struct mqtt_sock *msk;

	read_lock_bh(&tsk->sk_callback_lock);
	msk = mqtt_from_tcp(tsk);
	if (msk)
		mqtt_kick_data(msk, tcp_inq(tsk));
	read_unlock_bh(&tsk->sk_callback_lock);
}

static void mqtt_tcp_write_space(struct sock *tsk)
{
	/* Wake only once a useful amount of room is free, as TCP does. */
	if (!sk_stream_is_writeable(tsk) || !tsk->sk_socket)
		return;
	clear_bit(SOCK_NOSPACE, &tsk->sk_socket->flags);
	mqtt_tcp_event(tsk);
}

/* The callbacks TCP gives every socket it creates (sock_init_data(),
 * tcp_init_sock()), put back when a session lets its socket go.  They are
 * the same for every inner socket, so they are read once, at module load,
 * instead of being saved in each mqtt_sock.  Written once before any
 * socket exists; read-only afterwards.
 */
static struct {
	void (*data_ready)(struct sock *sk);
	void (*state_change)(struct sock *sk);
	void (*write_space)(struct sock *sk);
} mqtt_tcp_orig __ro_after_init;

/**
 * mqtt_transport_init() - learn TCP's socket callbacks
 *
 * Return: 0, or -errno when no TCP socket can be made.
 */
int __init mqtt_transport_init(void)
{
	struct socket *tcp;
	int err;

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &tcp);
	if (err)
		return err;
	mqtt_tcp_orig.data_ready = tcp->sk->sk_data_ready;
	mqtt_tcp_orig.state_change = tcp->sk->sk_state_change;
	mqtt_tcp_orig.write_space = tcp->sk->sk_write_space;
	sock_release(tcp);
	return 0;
}

/* Return: 0, or -EOPNOTSUPP if @tsk came with callbacks not TCP's own,
 * which could not be put back.
 */
static int mqtt_tcp_attach(struct mqtt_sock *msk, struct sock *tsk)
{
	int err = 0;

	write_lock_bh(&tsk->sk_callback_lock);
	if (tsk->sk_data_ready != mqtt_tcp_orig.data_ready ||
	    tsk->sk_state_change != mqtt_tcp_orig.state_change ||
	    tsk->sk_write_space != mqtt_tcp_orig.write_space) {
		err = -EOPNOTSUPP;
	} else {
		tsk->sk_user_data = msk;
		tsk->sk_data_ready = mqtt_tcp_data_ready;
		tsk->sk_state_change = mqtt_tcp_event;
		tsk->sk_write_space = mqtt_tcp_write_space;
	}
	write_unlock_bh(&tsk->sk_callback_lock);
	return err;
}

/* After this returns no callback of @tsk can reach @msk any more. */
static void mqtt_tcp_detach(struct sock *tsk)
{
	write_lock_bh(&tsk->sk_callback_lock);
	tsk->sk_user_data = NULL;
	tsk->sk_data_ready = mqtt_tcp_orig.data_ready;
	tsk->sk_state_change = mqtt_tcp_orig.state_change;
	tsk->sk_write_space = mqtt_tcp_orig.write_space;
	write_unlock_bh(&tsk->sk_callback_lock);
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
 * mqtt_tcp_open() - start a TCP connection to the broker
 * @msk: the socket, locked, without a TCP socket
 * @addr: the broker's sockaddr_in or sockaddr_in6
 * @addrlen: its length
 *
 * The TCP socket is created as the caller would create it: in the
 * caller's network namespace, which it keeps alive, with the caller's
 * credentials for the LSM socket-create hook and the caller's cgroup for
 * BPF connect hooks.  The connect itself never blocks; progress is
 * reported through mqtt_kick().
 *
 * Return: 0 when the handshake is under way (or done), else -errno.
 */
int mqtt_tcp_open(struct mqtt_sock *msk, struct sockaddr *addr, int addrlen)
{
	struct socket *tcp;
	int err;

	err = mqtt_check_addr(addr, addrlen);
	if (err)
		return err;
	err = __sock_create(sock_net(&msk->sk), addr->sa_family, SOCK_STREAM,
			    IPPROTO_TCP, &tcp, 0);
	/* socket(2)'s ENFILE for a failed allocation means ENOMEM here. */
	if (err == -ENFILE)
		err = -ENOMEM;
	if (err)
		return err;
	err = mqtt_tcp_attach(msk, tcp->sk);
	if (err) {
		sock_release(tcp);
		return err;
	}
	/* MQTT packets are small and latency-bound. */
	tcp_sock_set_nodelay(tcp->sk);
	msk->tcp = tcp;

	err = kernel_connect(tcp, addr, addrlen, O_NONBLOCK);
	if (err && err != -EINPROGRESS) {
		mqtt_tcp_close(msk, false);
		return err;
	}
	return 0;
}

/**
 * mqtt_tcp_close() - detach from and release the TCP socket
 * @msk: the socket, locked
 * @abort: reset the connection instead of closing it in order
 */
void mqtt_tcp_close(struct mqtt_sock *msk, bool abort)
{
	struct socket *tcp = msk->tcp;

	if (!tcp)
		return;
	msk->tcp = NULL;
	mqtt_tcp_detach(tcp->sk);
	if (abort)
		sock_no_linger(tcp->sk);
	sock_release(tcp);
}

/* TCP's EPIPE (a send after the broker closed, or a reset in
 * CLOSE_WAIT) is, for the session, the broker resetting it; EPIPE stays
 * what send() says after the session's own end or shutdown.
 */
static int mqtt_tcp_errno(int err)
{
	return err == -EPIPE ? -ECONNRESET : err;
}

/* What a send to TCP returned, as the session sees it. */
static int mqtt_tcp_sent(struct mqtt_sock *msk, int n)
{
	if (n > 0)
		WRITE_ONCE(msk->last_tx, jiffies);
	return mqtt_tcp_errno(n);
}

/**
 * mqtt_tcp_send() - queue bytes on the TCP socket without blocking
 * @msk: the socket, locked, with a TCP socket
 * @vec: the bytes
 * @nr: number of @vec entries
 * @len: their total length
 * @flags: 0, or MSG_MORE when more of the packet follows at once
 *
 * Return: bytes accepted (maybe fewer than @len), -EAGAIN when the send
 * buffer is full (a write-space event follows), -ECONNRESET when the
 * broker had closed, else -errno.
 */
int mqtt_tcp_send(struct mqtt_sock *msk, struct kvec *vec, size_t nr,
		  size_t len, int flags)
{
	struct msghdr msg = {
		.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL | flags,
	};

	return mqtt_tcp_sent(msk, kernel_sendmsg(msk->tcp, &msg, vec, nr,
						 len));
}

/* The payload's part of mqtt_tcp_send_packet(), TCP socket locked. */
static int mqtt_tcp_send_payload(struct sock *tsk, struct iov_iter *iter)
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
 * mqtt_tcp_send_packet() - hand TCP a packet: its head, then its payload
 * @msk: the socket, locked, with a TCP socket
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
int mqtt_tcp_send_packet(struct mqtt_sock *msk, struct kvec *vec, size_t nr,
			 size_t head, struct iov_iter *iter)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct sock *tsk = msk->tcp->sk;
	int n, m = 0;

	if (iov_iter_count(iter))
		msg.msg_flags |= MSG_MORE;
	if (READ_ONCE(tsk->sk_prot)->sendmsg != tcp_sendmsg) {
		n = kernel_sendmsg(msk->tcp, &msg, vec, nr, head);
		if (n == head && iov_iter_count(iter)) {
			msg.msg_flags &= ~MSG_MORE;
			msg.msg_iter = *iter;
			m = sock_sendmsg(msk->tcp, &msg);
			if (m > 0)
				iov_iter_advance(iter, m);
		}
	} else {
		iov_iter_kvec(&msg.msg_iter, WRITE, vec, nr, head);
		lock_sock(tsk);
		n = tcp_sendmsg_locked(tsk, &msg, head);
		if (n == head && iov_iter_count(iter))
			m = mqtt_tcp_send_payload(tsk, iter);
		release_sock(tsk);
	}
	/* The head is out: what TCP says of the payload adds to it. */
	if (m > 0)
		n += m;
	else if (m < 0 && m != -EAGAIN)
		n = m;
	return mqtt_tcp_sent(msk, n);
}

/**
 * mqtt_tcp_read() - hand what TCP received to @actor
 * @msk: the socket, locked, with a TCP socket
 * @actor: consumes bytes; returning 0 stops the reading, and a -errno
 *	it leaves in desc->error is returned
 *
 * The actor runs in process context with the TCP socket locked, so it may
 * sleep, but it must not send on the TCP socket.
 *
 * Return: bytes consumed, or -errno.
 */
int mqtt_tcp_read(struct mqtt_sock *msk, sk_read_actor_t actor)
{
	read_descriptor_t desc = { .arg.data = msk, .count = 1 };
	struct sock *tsk = msk->tcp->sk;
	int n;

	lock_sock(tsk);
	n = tcp_read_sock(tsk, &desc, actor);
	release_sock(tsk);
	return desc.error ? desc.error : n;
}

/**
 * mqtt_tcp_eof() - has the broker closed its side, all bytes read
 * @msk: the socket, locked, with a TCP socket
 *
 * Return: true at end of stream.
 */
bool mqtt_tcp_eof(struct mqtt_sock *msk)
{
	struct sock *tsk = msk->tcp->sk;

	/* RCV_SHUTDOWN: the broker's FIN arrived (our own FIN does not set it). */
	return (READ_ONCE(tsk->sk_shutdown) & RCV_SHUTDOWN) &&
	       skb_queue_empty_lockless(&tsk->sk_receive_queue);
}

/**
 * mqtt_tcp_recv() - read bytes from the TCP socket without blocking
 * @msk: the socket, locked, with a TCP socket
 * @buf: where to put them
 * @len: at most this many
 *
 * Return: bytes read, 0 at end of stream, -EAGAIN when none are queued,
 * else -errno.
 */
int mqtt_tcp_recv(struct mqtt_sock *msk, void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	struct kvec iov = { .iov_base = buf, .iov_len = len };

	return mqtt_tcp_errno(kernel_recvmsg(msk->tcp, &msg, &iov, 1, len,
					     MSG_DONTWAIT));
}

/**
 * mqtt_tcp_status() - how the TCP connection stands
 * @msk: the socket, locked, with a TCP socket
 *
 * Return: 1 while the handshake is still under way, 0 when bytes can
 * flow (maybe one way only), else the -errno that ended the connection.
 */
int mqtt_tcp_status(struct mqtt_sock *msk)
{
	struct sock *tsk = msk->tcp->sk;
	int err;

	switch (READ_ONCE(tsk->sk_state)) {
	case TCP_SYN_SENT:
		return 1;
	case TCP_CLOSE:
		err = mqtt_tcp_errno(sock_error(tsk));
		return err ? err : -ECONNRESET;
	default:
		return 0;
	}
}

/**
 * mqtt_tcp_error() - take the TCP socket's pending error
 * @msk: the socket, locked, with a TCP socket
 *
 * Return: -errno, or 0 when there is none.
 */
int mqtt_tcp_error(struct mqtt_sock *msk)
{
	return mqtt_tcp_errno(sock_error(msk->tcp->sk));
}
