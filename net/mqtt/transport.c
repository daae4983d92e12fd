// SPDX-License-Identifier: GPL-2.0
/*
 * The transport: the inner TCP socket, either opened on the caller's
 * behalf or attached by the application (MQTT_TRANSPORT_FD, maybe with
 * kTLS on it), its events, and non-blocking byte transfer for the layers
 * above.  The lowest layer but tls.c and the codec: it calls nothing of
 * net/mqtt above it except the session's upcall.
 *
 * Events reach the session through the one upcall (mqtt_session_kick(),
 * mqtt_session_kick_data()), which only notes that something happened;
 * all reading, writing and state changes happen in process context under
 * the AF_MQTT socket lock, which is always taken before the TCP socket's.
 *
 * - Our own socket: its callbacks are ours, saved and replaced; they run
 *   in softirq context with the TCP socket's bh lock held.
 * - An attached socket: its callbacks stay whatever made it (TCP, kTLS).
 *   kTLS calls its saved data_ready only once a whole record is in, and
 *   may find it in its own work item later, so the one event that
 *   always says "readable" is the socket's wake-up: we listen on its
 *   wait queue, as poll() would (mqtt_transport_wake()).
 */
#include <linux/file.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/wait.h>
#include <net/ipv6.h>
#include <net/tcp.h>
#include <net/tcp_states.h>

#include "mqtt.h"

/* Plaintext taken from kTLS per read: one page with the skb's own
 * tail; a larger record comes in several reads.
 */
#define MQTT_TLS_RX_ROOM	SKB_WITH_OVERHEAD(PAGE_SIZE)

/**
 * struct mqtt_transport - the inner socket of a connection
 * @sock: the TCP socket to the broker
 * @msk: the AF_MQTT socket it serves
 * @data_ready: our own socket's callback before ours, put back on detach
 * @state_change: likewise
 * @write_space: likewise
 * @wait: an attached socket: our entry on its wait queue, once @opened
 * @rx_skb: kTLS: the buffer plaintext is read into from kTLS, allocated
 *	on the first read and kept with the connection; bytes the session
 *	has not taken yet (back-pressure stopped it) stay there
 * @rx_off: bytes of @rx_skb already taken
 * @tls_rx: kTLS: a handshake message read in part
 * @tls_overhead: kTLS: bytes a record adds to its plaintext
 * @attached: the application's socket; we hold a reference on its file
 * @opened: connect() started on it (an attached socket is given back
 *	untouched until then)
 * @tls: kTLS both ways is on it: reads go through tls.c
 * @eof: kTLS: the end of stream was read (FIN or close_notify)
 * @tx_closed: our sending side was shut (after close_notify, for kTLS)
 *
 * Our own socket is allocated by connect() and freed when the
 * connection ends: an idle socket that never connects does without.  An
 * attached one from setsockopt(MQTT_TRANSPORT_FD) until the connect()
 * that uses it ends, or the socket is closed.  Callbacks are saved per
 * socket, as kTLS and sunrpc save theirs, because whatever made the
 * socket decides them.  Socket lock of the AF_MQTT socket; the callbacks
 * change under @sock's sk_callback_lock.
 */
struct mqtt_transport {
	struct socket *sock;
	struct mqtt_sock *msk;
	void (*data_ready)(struct sock *sk);
	void (*state_change)(struct sock *sk);
	void (*write_space)(struct sock *sk);
	struct wait_queue_entry wait;
	struct sk_buff *rx_skb;
	u32 rx_off;
	struct mqtt_tls_rx tls_rx;
	u16 tls_overhead;
	bool attached;
	bool opened;
	bool tls;
	bool eof;
	bool tx_closed;
};

/* sk_user_data of the TCP socket points to the mqtt_sock while it
 * serves one: for our own socket the callbacks find it there, for an
 * attached one it is the claim that keeps a second AF_MQTT socket (or a
 * sockmap, or any other user of sk_user_data) away.  It and the
 * callbacks change under sk_callback_lock.
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

static void mqtt_transport_hook(struct mqtt_sock *msk,
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
static void mqtt_transport_unhook(struct mqtt_transport *xprt)
{
	struct sock *tsk = xprt->sock->sk;

	write_lock_bh(&tsk->sk_callback_lock);
	tsk->sk_user_data = NULL;
	tsk->sk_data_ready = xprt->data_ready;
	tsk->sk_state_change = xprt->state_change;
	tsk->sk_write_space = xprt->write_space;
	write_unlock_bh(&tsk->sk_callback_lock);
}

/* The upcall of an attached socket, from its wait queue: readable,
 * writable, or its state changed (a NULL key).  Runs with the wait
 * queue's lock held, in any context.
 */
static int mqtt_transport_wake(struct wait_queue_entry *wait,
			       unsigned int mode, int sync, void *key)
{
	struct mqtt_transport *xprt = container_of(wait, struct mqtt_transport,
						   wait);
	struct sock *tsk = xprt->sock->sk;
	__poll_t mask = key_to_poll(key);
	u32 unread;

	if (!(mask & (EPOLLIN | EPOLLRDNORM))) {
		mqtt_session_kick(xprt->msk);
		return 0;
	}
	/* For kTLS, what a lone record holds once opened: a PINGRESP's
	 * record must not wake a reader either.
	 */
	unread = tcp_inq(tsk);
	if (xprt->tls)
		unread = unread > xprt->tls_overhead ?
			 unread - xprt->tls_overhead : 0;
	mqtt_session_kick_data(xprt->msk, unread);
	return 0;
}

/* May @tsk carry a session: TCP, connected, in our network namespace,
 * plain or with kTLS both ways.  Return: 0 (plain), 1 (kTLS), -errno.
 */
static int mqtt_transport_usable(struct mqtt_sock *msk, struct sock *tsk,
				 u16 *tls_overhead)
{
	int ret;

	/* Fixed at socket(): checked before taking a lock that, for an
	 * AF_MQTT socket (maybe this one), is not TCP's.
	 */
	if ((tsk->sk_family != AF_INET && tsk->sk_family != AF_INET6) ||
	    tsk->sk_type != SOCK_STREAM || tsk->sk_protocol != IPPROTO_TCP)
		return -EINVAL;
	/* Its connection is routed and accounted in another namespace. */
	if (!net_eq(sock_net(tsk), sock_net(&msk->sk)))
		return -EINVAL;
	lock_sock(tsk);
	switch (tsk->sk_state) {
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:	/* the broker's FIN: the session sees it */
		ret = mqtt_tls_probe(tsk, tls_overhead);
		break;
	case TCP_LISTEN:
		ret = -EINVAL;
		break;
	default:
		ret = -ENOTCONN;
		break;
	}
	release_sock(tsk);
	return ret;
}

/**
 * mqtt_transport_attach_fd() - take the application's TCP socket
 * @msk: the socket, locked, UNCONNECTED
 * @fd: a connected TCP socket of the caller, plain or kTLS both ways;
 *	-1 to give back the one attached before
 *
 * A socket attached before is given back untouched first, even when
 * @fd is refused.  We hold a reference on @fd's file: the application
 * may close its descriptor.
 *
 * Return: 0; -EBADF, -ENOTSOCK for a descriptor that is no socket,
 * -EINVAL for a socket other than TCP, a listening one, one of another
 * network namespace, kTLS one way only or another ULP, -ENOTCONN for one
 * not connected, -EBUSY for one that another AF_MQTT socket (or another
 * user of sk_user_data) has.
 */
int mqtt_transport_attach_fd(struct mqtt_sock *msk, int fd)
{
	struct mqtt_transport *xprt;
	struct socket *sock;
	struct sock *tsk;
	u16 overhead = 0;
	int err;

	mqtt_lock_held(msk);
	mqtt_transport_close(msk, false);
	if (fd == -1)
		return 0;
	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return err;
	tsk = sock->sk;
	err = mqtt_transport_usable(msk, tsk, &overhead);
	if (err < 0)
		goto put;
	err = -ENOMEM;
	xprt = kzalloc(sizeof(*xprt), GFP_KERNEL_ACCOUNT);
	if (!xprt)
		goto put;
	xprt->sock = sock;
	xprt->msk = msk;
	xprt->attached = true;

	write_lock_bh(&tsk->sk_callback_lock);
	err = tsk->sk_user_data ? -EBUSY : 0;
	if (!err)
		tsk->sk_user_data = msk;
	write_unlock_bh(&tsk->sk_callback_lock);
	if (err) {
		kfree(xprt);
		goto put;
	}
	msk->xprt = xprt;
	return 0;

put:
	sockfd_put(sock);
	return err;
}

/* connect() on the attached socket: checked again (the application kept
 * it meanwhile), then its events are ours.
 */
static int mqtt_transport_start(struct mqtt_sock *msk,
				struct mqtt_transport *xprt)
{
	struct sock *tsk = xprt->sock->sk;
	int ret;

	ret = mqtt_transport_usable(msk, tsk, &xprt->tls_overhead);
	if (ret < 0)
		return ret;
	xprt->tls = ret;
	xprt->opened = true;
	init_waitqueue_func_entry(&xprt->wait, mqtt_transport_wake);
	add_wait_queue(sk_sleep(tsk), &xprt->wait);
	/* MQTT packets are small and latency-bound, as on our own. */
	tcp_sock_set_nodelay(tsk);
	return 0;
}

/* The end of the attached socket's use: after a connect() started on
 * it, its connection ends as our own would (in order, or reset); before,
 * it is given back untouched.  The application's descriptor, if it kept
 * one, then sees that end.
 */
static void mqtt_transport_give_back(struct mqtt_transport *xprt, bool abort)
{
	struct socket *sock = xprt->sock;
	struct sock *tsk = sock->sk;

	if (xprt->opened) {
		/* No wake-up reaches us once this returns. */
		remove_wait_queue(sk_sleep(tsk), &xprt->wait);
		if (abort) {
			tcp_abort(tsk, ECONNABORTED);
		} else {
			if (xprt->tls && !xprt->tx_closed)
				mqtt_tls_close_notify(sock);
			kernel_sock_shutdown(sock, SHUT_RDWR);
		}
	}
	write_lock_bh(&tsk->sk_callback_lock);
	tsk->sk_user_data = NULL;
	write_unlock_bh(&tsk->sk_callback_lock);
	sockfd_put(sock);
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
 * mqtt_transport_open() - start the connection to the broker
 * @msk: the socket, locked, without a connection
 * @addr: the broker's sockaddr_in or sockaddr_in6; none (@addrlen 0)
 *	with an attached socket
 * @addrlen: its length
 *
 * Our own TCP socket is created as the caller would create it: in the
 * caller's network namespace, which it keeps alive, with the caller's
 * credentials for the LSM socket-create hook and the caller's cgroup for
 * BPF connect hooks.  The connect itself never blocks; progress is
 * reported through the upcall, mqtt_session_kick().  An attached socket
 * is connected already; a refusal gives it back untouched.
 *
 * Return: 0 when the handshake is under way (or done), -EISCONN for an
 * address with an attached socket, else -errno.
 */
int mqtt_transport_open(struct mqtt_sock *msk, struct sockaddr *addr,
			int addrlen)
{
	struct mqtt_transport *xprt = msk->xprt;
	int err;

	mqtt_lock_held(msk);
	msk->tls_alert = 0;
	if (xprt) {
		if (addrlen)
			return -EISCONN;
		err = mqtt_transport_start(msk, xprt);
		if (err)
			mqtt_transport_close(msk, false);
		return err;
	}
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
	xprt->msk = msk;
	mqtt_transport_hook(msk, xprt);
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
 * mqtt_transport_close() - end the connection and release its socket
 * @msk: the socket, locked
 * @abort: reset the connection instead of closing it in order
 *
 * An attached socket is given back (see mqtt_transport_give_back()).
 */
void mqtt_transport_close(struct mqtt_sock *msk, bool abort)
{
	struct mqtt_transport *xprt = msk->xprt;

	mqtt_lock_held(msk);
	if (!xprt)
		return;
	msk->xprt = NULL;
	if (xprt->attached) {
		mqtt_transport_give_back(xprt, abort);
	} else {
		mqtt_transport_unhook(xprt);
		if (abort)
			sock_no_linger(xprt->sock->sk);
		sock_release(xprt->sock);
	}
	kfree_skb(xprt->rx_skb);
	kfree(xprt);
}

/**
 * mqtt_transport_shutdown() - close the sending side (TCP's FIN)
 * @msk: the socket, locked, with a connection
 *
 * Over kTLS our close_notify goes first.
 */
void mqtt_transport_shutdown(struct mqtt_sock *msk)
{
	struct socket *sock = mqtt_transport_sock(msk);
	struct mqtt_transport *xprt = msk->xprt;

	if (xprt->tls)
		mqtt_tls_close_notify(sock);
	kernel_sock_shutdown(sock, SHUT_WR);
	xprt->tx_closed = true;
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

/* kTLS: have plaintext in rx_skb, reading records until a data one
 * comes.  Return: 1 when there is some, 0 at end of stream, -EAGAIN when
 * no whole record is in, else the -errno that ends the connection.
 */
static int mqtt_transport_tls_fill(struct mqtt_sock *msk,
				   struct mqtt_transport *xprt)
{
	struct sk_buff *skb = xprt->rx_skb;
	u8 type;
	int n;

	if (skb && xprt->rx_off < skb->len)
		return 1;
	if (xprt->eof)
		return 0;
	if (!skb) {
		skb = alloc_skb(MQTT_TLS_RX_ROOM, GFP_KERNEL_ACCOUNT);
		if (!skb)
			return -ENOMEM;
		xprt->rx_skb = skb;
	}
	for (;;) {
		skb_trim(skb, 0);
		xprt->rx_off = 0;
		n = mqtt_tls_recv(xprt->sock, skb->data, MQTT_TLS_RX_ROOM, &type);
		if (n <= 0)
			break;
		if (mqtt_tls_is_data(type)) {
			skb_put(skb, n);
			return 1;
		}
		n = mqtt_tls_control(&xprt->tls_rx, type, skb->data, n,
				     &msk->tls_alert);
		if (n)
			break;
	}
	if (n >= 0)
		xprt->eof = true;
	return n > 0 ? 0 : mqtt_transport_errno(n);
}

/* kTLS: hand the plaintext to @actor as tcp_read_sock() would. */
static int mqtt_transport_tls_read(struct mqtt_sock *msk,
				   struct mqtt_transport *xprt,
				   sk_read_actor_t actor)
{
	read_descriptor_t desc = { .arg.data = msk, .count = 1 };
	int copied = 0, ret;

	for (;;) {
		size_t avail;
		int used;

		ret = mqtt_transport_tls_fill(msk, xprt);
		if (ret <= 0)
			break;
		avail = xprt->rx_skb->len - xprt->rx_off;
		used = actor(&desc, xprt->rx_skb, xprt->rx_off, avail);
		xprt->rx_off += used;
		copied += used;
		if (used < avail || !desc.count)
			break;
	}
	if (desc.error)
		return desc.error;
	return ret < 0 && ret != -EAGAIN ? ret : copied;
}

/**
 * mqtt_transport_read() - hand what the broker sent to @actor
 * @msk: the socket, locked, with a connection
 * @actor: consumes bytes; returning 0 stops the reading, and a -errno
 *	it leaves in desc->error is returned
 *
 * The actor runs in process context, for plain TCP with the TCP socket
 * locked, so it may sleep, but it must not send on the TCP socket.  Over
 * kTLS it gets the plaintext of each record; what it leaves is kept for
 * the next call.
 *
 * Return: bytes consumed, or -errno.
 */
int mqtt_transport_read(struct mqtt_sock *msk, sk_read_actor_t actor)
{
	read_descriptor_t desc = { .arg.data = msk, .count = 1 };
	struct sock *tsk = mqtt_transport_sock(msk)->sk;
	int n;

	if (msk->xprt->tls)
		return mqtt_transport_tls_read(msk, msk->xprt, actor);
	lock_sock(tsk);
	n = tcp_read_sock(tsk, &desc, actor);
	release_sock(tsk);
	return desc.error ? desc.error : n;
}

/**
 * mqtt_transport_eof() - has the broker closed its side, all bytes read
 * @msk: the socket, locked, with a connection
 *
 * Over kTLS the end is what the last read found: a close_notify, or the
 * FIN without one (either way nothing more can come).
 *
 * Return: true at end of stream.
 */
bool mqtt_transport_eof(struct mqtt_sock *msk)
{
	struct sock *tsk = mqtt_transport_sock(msk)->sk;
	const struct mqtt_transport *xprt = msk->xprt;

	if (xprt->tls)
		return xprt->eof &&
		       (!xprt->rx_skb || xprt->rx_off == xprt->rx_skb->len);
	/* RCV_SHUTDOWN: the broker's FIN came (our own FIN does not set it). */
	return (READ_ONCE(tsk->sk_shutdown) & RCV_SHUTDOWN) &&
	       skb_queue_empty_lockless(&tsk->sk_receive_queue);
}

/**
 * mqtt_transport_recv() - read bytes from the broker without blocking
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
	struct socket *sock = mqtt_transport_sock(msk);
	struct mqtt_transport *xprt = msk->xprt;
	int n;

	if (xprt->tls) {
		n = mqtt_transport_tls_fill(msk, xprt);
		if (n <= 0)
			return n;
		n = min_t(size_t, len, xprt->rx_skb->len - xprt->rx_off);
		memcpy(buf, xprt->rx_skb->data + xprt->rx_off, n);
		xprt->rx_off += n;
		return n;
	}
	return mqtt_transport_errno(kernel_recvmsg(sock, &msg, &iov, 1, len,
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
