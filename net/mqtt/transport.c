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
#include <net/tcp_states.h>

#include "mqtt.h"

/* sk_user_data of the TCP socket points to the mqtt_sock while it is
 * attached; it and the saved callbacks change under sk_callback_lock.
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

static void mqtt_tcp_write_space(struct sock *tsk)
{
	/* Wake only once a useful amount of room is free, as TCP does. */
	if (!sk_stream_is_writeable(tsk) || !tsk->sk_socket)
		return;
	clear_bit(SOCK_NOSPACE, &tsk->sk_socket->flags);
	mqtt_tcp_event(tsk);
}

static void mqtt_tcp_attach(struct mqtt_sock *msk, struct sock *tsk)
{
	write_lock_bh(&tsk->sk_callback_lock);
	msk->saved_data_ready = tsk->sk_data_ready;
	msk->saved_state_change = tsk->sk_state_change;
	msk->saved_write_space = tsk->sk_write_space;
	tsk->sk_user_data = msk;
	tsk->sk_data_ready = mqtt_tcp_event;
	tsk->sk_state_change = mqtt_tcp_event;
	tsk->sk_write_space = mqtt_tcp_write_space;
	write_unlock_bh(&tsk->sk_callback_lock);
}

/* After this returns no callback of @tsk can reach @msk any more. */
static void mqtt_tcp_detach(struct mqtt_sock *msk, struct sock *tsk)
{
	write_lock_bh(&tsk->sk_callback_lock);
	tsk->sk_user_data = NULL;
	tsk->sk_data_ready = msk->saved_data_ready;
	tsk->sk_state_change = msk->saved_state_change;
	tsk->sk_write_space = msk->saved_write_space;
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
	if (err)
		return err;
	/* MQTT packets are small and latency-bound. */
	tcp_sock_set_nodelay(tcp->sk);
	mqtt_tcp_attach(msk, tcp->sk);
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
	mqtt_tcp_detach(msk, tcp->sk);
	if (abort)
		sock_no_linger(tcp->sk);
	sock_release(tcp);
}

/**
 * mqtt_tcp_send() - queue bytes on the TCP socket without blocking
 * @msk: the socket, locked, with a TCP socket
 * @buf: the bytes
 * @len: how many
 *
 * Return: bytes accepted (maybe fewer than @len), -EAGAIN when the send
 * buffer is full (a write-space event follows), else -errno.
 */
int mqtt_tcp_send(struct mqtt_sock *msk, const void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct kvec iov = { .iov_base = (void *)buf, .iov_len = len };

	return kernel_sendmsg(msk->tcp, &msg, &iov, 1, len);
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

	return kernel_recvmsg(msk->tcp, &msg, &iov, 1, len, MSG_DONTWAIT);
}

/**
 * mqtt_tcp_status() - how the TCP connection stands
 * @msk: the socket, locked, with a TCP socket
 * @peer_fin_ok: whether the broker having closed its side still counts
 *	as usable (its queued bytes can be read)
 *
 * Return: 1 while the handshake is still under way, 0 when bytes can
 * flow, else the -errno that ended the connection.
 */
int mqtt_tcp_status(struct mqtt_sock *msk, bool peer_fin_ok)
{
	struct sock *tsk = msk->tcp->sk;
	int err;

	switch (READ_ONCE(tsk->sk_state)) {
	case TCP_SYN_SENT:
		return 1;
	case TCP_ESTABLISHED:
		return 0;
	case TCP_CLOSE_WAIT:
		return peer_fin_ok ? 0 : -ECONNRESET;
	default:
		err = sock_error(tsk);
		return err ? err : -ECONNRESET;
	}
}
