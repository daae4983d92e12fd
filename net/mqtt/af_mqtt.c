// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT: an MQTT 3.1.1 client as a socket family.
 *
 * Implementation notes
 *
 * - Each AF_MQTT socket drives one inner TCP socket, created on connect()
 *   in the caller's network namespace (transport.c).  The session state
 *   machine (session.c) runs in process context under the AF_MQTT socket
 *   lock, either in a system call that is in the kernel anyway
 *   (mqtt_sync_begin: connect; send, which so handles the acks of what it
 *   sends; close, for the events of TCP's closing) or in mqtt_work() on
 *   mqtt_wq.  No thread exists per socket.
 *
 * - Lock order: AF_MQTT socket lock, then the TCP socket's lock (taken
 *   inside kernel_sendmsg/kernel_recvmsg/sock_release).  The TCP
 *   callbacks hold the TCP socket's bh lock and its sk_callback_lock
 *   (read); they take no AF_MQTT lock, only set atomic bits, wake the
 *   wait queue or queue work.
 *
 * - References on the AF_MQTT sock: the socket file holds one until
 *   release; a queued mqtt_sock.work holds one (dropped by mqtt_work or
 *   by whoever cancels it); the pending timer (connect deadline, then
 *   keepalive) holds one.  release first detaches the TCP callbacks and
 *   stops the timer under the lock, so that nothing can queue the work
 *   again, then cancels the work.
 *
 * - The sock's proto holds a module reference until the last sk is freed,
 *   which can happen at the end of mqtt_work(); module exit destroys
 *   mqtt_wq, which waits for that work to return.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>

#include "mqtt.h"

static int family = AF_MQTT;
module_param(family, int, 0444);
MODULE_PARM_DESC(family, "address family number to register (default 22)");

struct workqueue_struct *mqtt_wq;

static struct proto mqtt_proto = {
	.name		= "MQTT",
	.owner		= THIS_MODULE,
	.obj_size	= sizeof(struct mqtt_sock),
};

/* Wait, as TCP's connect() does, until the handshake ends, the send
 * timeout runs out (-EINPROGRESS) or a signal comes; the handshake goes
 * on in the last two cases.  Runs the state machine itself meanwhile.
 */
static int mqtt_wait_connect(struct mqtt_sock *msk, long timeo)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct sock *sk = &msk->sk;
	int err = 0;

	/* Non-blocking: even an outcome already known is read through
	 * poll() and SO_ERROR, as with TCP.  A TCP handshake that already
	 * finished (a local broker) gets its CONNECT from here rather than
	 * from the work.
	 */
	if (!timeo) {
		if (test_bit(MQTT_EV_PENDING, &msk->events))
			mqtt_session_progress(msk);
		return -EINPROGRESS;
	}
	add_wait_queue(sk_sleep(sk), &wait);
	while (mqtt_state(sk) == MQTT_CONNECTING) {
		if (!timeo) {
			err = -EINPROGRESS;
			break;
		}
		if (signal_pending(current)) {
			err = sock_intr_errno(timeo);
			break;
		}
		sk_wait_event(sk, &timeo,
			      mqtt_state(sk) != MQTT_CONNECTING ||
			      test_bit(MQTT_EV_PENDING, &msk->events), &wait);
		mqtt_session_progress(msk);
	}
	remove_wait_queue(sk_sleep(sk), &wait);
	if (err)
		return err;
	/* Accepted: a session that ended at once reports that later. */
	if (mqtt_state(sk) == MQTT_CONNECTED || mqtt_state(sk) == MQTT_CLOSED)
		return 0;
	err = sock_error(sk);
	return err ? err : -ECONNRESET;
}

static int mqtt_connect(struct socket *sock, struct sockaddr *addr,
			int addrlen, int flags)
{
	struct sock *sk = sock->sk;
	struct mqtt_sock *msk = mqtt_sk(sk);
	int err;

	lock_sock(sk);
	switch (mqtt_state(sk)) {
	case MQTT_UNCONNECTED:
		break;
	case MQTT_CONNECTING:
		err = -EALREADY;
		goto out;
	default:
		err = -EISCONN;
		goto out;
	}
	mqtt_sync_begin(msk);
	err = mqtt_session_connect(msk, addr, addrlen);
	if (!err)
		err = mqtt_wait_connect(msk, sock_sndtimeo(sk, flags & O_NONBLOCK));
	mqtt_sync_end(msk);
out:
	release_sock(sk);
	return err;
}

static __poll_t mqtt_poll(struct file *file, struct socket *sock,
			  poll_table *wait)
{
	struct sock *sk = sock->sk;
	__poll_t mask = 0;

	struct mqtt_sock *msk = mqtt_sk(sk);
	enum mqtt_state state;
	u8 shutdown;

	sock_poll_wait(file, sock, wait);
	/* A failure writes sk_err before the state: reading them in the
	 * other order, an ended state always comes with its error.
	 */
	state = mqtt_state(sk);
	/* Pairs with smp_wmb() before a failure's state change. */
	smp_rmb();
	if (READ_ONCE(sk->sk_err) ||
	    !skb_queue_empty_lockless(&sk->sk_error_queue))
		mask |= EPOLLERR;
	if (READ_ONCE(msk->rx_queued))
		mask |= EPOLLIN | EPOLLRDNORM;
	shutdown = READ_ONCE(sk->sk_shutdown);
	switch (state) {
	case MQTT_UNCONNECTED:
		/* As a TCP socket that is not connected. */
		mask |= EPOLLOUT | EPOLLWRNORM | EPOLLHUP;
		break;
	case MQTT_CONNECTING:
		break;
	case MQTT_CONNECTED:
		/* After shutdown, recv() and send() return at once. */
		if (shutdown)
			mask |= EPOLLIN | EPOLLRDNORM;
		if ((shutdown & SEND_SHUTDOWN) || mqtt_tx_ready(msk))
			mask |= EPOLLOUT | EPOLLWRNORM;
		break;
	case MQTT_CLOSED:
		mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLHUP;
		break;
	}
	return mask;
}

static int mqtt_getname(struct socket *sock, struct sockaddr *addr, int peer)
{
	struct sock *sk = sock->sk;
	struct mqtt_sock *msk = mqtt_sk(sk);
	int err = -ENOTCONN;

	lock_sock(sk);
	if (mqtt_state(sk) == MQTT_CONNECTED)
		err = peer ? kernel_getpeername(msk->tcp, addr) :
			     kernel_getsockname(msk->tcp, addr);
	release_sock(sk);
	return err;
}

static int mqtt_shutdown(struct socket *sock, int how)
{
	struct sock *sk = sock->sk;
	int err;

	if (how < SHUT_RD || how > SHUT_RDWR)
		return -EINVAL;
	lock_sock(sk);
	err = mqtt_session_shutdown(mqtt_sk(sk), how);
	release_sock(sk);
	return err;
}

static int mqtt_release(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct mqtt_sock *msk;

	if (!sk)
		return 0;
	msk = mqtt_sk(sk);

	lock_sock(sk);
	mqtt_session_release(msk);
	sock_orphan(sk);
	sock->sk = NULL;
	release_sock(sk);

	/* Nothing can queue the work any more; drop its reference. */
	if (cancel_work_sync(&msk->work))
		sock_put(sk);
	sock_put(sk);
	return 0;
}

/* .family is informational: with family= overriding the default, the core
 * still finds the family through mqtt_family_ops, never through this.
 */
static const struct proto_ops mqtt_ops = {
	.family		= PF_MQTT,
	.owner		= THIS_MODULE,
	.release	= mqtt_release,
	.bind		= sock_no_bind,
	.connect	= mqtt_connect,
	.socketpair	= sock_no_socketpair,
	.accept		= sock_no_accept,
	.getname	= mqtt_getname,
	.poll		= mqtt_poll,
	.ioctl		= sock_no_ioctl,
	.listen		= sock_no_listen,
	.shutdown	= mqtt_shutdown,
	.setsockopt	= mqtt_setsockopt,
	.getsockopt	= mqtt_getsockopt,
	.sendmsg	= mqtt_sendmsg,
	.recvmsg	= mqtt_recvmsg,
	.mmap		= sock_no_mmap,
	.sendpage	= sock_no_sendpage,
};

static void mqtt_destruct(struct sock *sk)
{
	mqtt_session_destroy(mqtt_sk(sk));
	skb_queue_purge(&sk->sk_error_queue);
}

static int mqtt_create(struct net *net, struct socket *sock, int protocol,
		       int kern)
{
	struct mqtt_sock *msk;
	struct sock *sk;

	if (sock->type != SOCK_SEQPACKET)
		return -ESOCKTNOSUPPORT;
	if (protocol)
		return -EPROTONOSUPPORT;

	sk = sk_alloc(net, family, GFP_KERNEL, &mqtt_proto, kern);
	if (!sk)
		return -ENOMEM;
	sock->ops = &mqtt_ops;
	sock_init_data(sock, sk);
	sk->sk_destruct = mqtt_destruct;
	mqtt_set_state(sk, MQTT_UNCONNECTED);

	msk = mqtt_sk(sk);
	mqtt_config_init(&msk->conf);
	INIT_LIST_HEAD(&msk->txq);
	INIT_LIST_HEAD(&msk->rxq);
	INIT_WORK(&msk->work, mqtt_work);
	mqtt_timers_init(msk);
	return 0;
}

static struct net_proto_family mqtt_family_ops = {
	.create	= mqtt_create,
	.owner	= THIS_MODULE,
};

static int __init mqtt_init(void)
{
	int err;

	if (family <= AF_UNSPEC || family >= NPROTO) {
		pr_err("family %d out of range\n", family);
		return -EINVAL;
	}
	err = mqtt_transport_init();
	if (err)
		return err;
	mqtt_wq = alloc_workqueue("mqtt", 0, 0);
	if (!mqtt_wq)
		return -ENOMEM;
	err = proto_register(&mqtt_proto, 1);
	if (err)
		goto err_wq;
	mqtt_family_ops.family = family;
	err = sock_register(&mqtt_family_ops);
	if (err) {
		pr_err("cannot register family %d: %d\n", family, err);
		goto err_proto;
	}
	return 0;

err_proto:
	proto_unregister(&mqtt_proto);
err_wq:
	destroy_workqueue(mqtt_wq);
	return err;
}

static void __exit mqtt_exit(void)
{
	sock_unregister(family);
	destroy_workqueue(mqtt_wq);
	proto_unregister(&mqtt_proto);
}

module_init(mqtt_init);
module_exit(mqtt_exit);

MODULE_DESCRIPTION("AF_MQTT: MQTT 3.1.1 client sockets");
MODULE_LICENSE("GPL");
MODULE_ALIAS_NETPROTO(AF_MQTT);
