// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT: an MQTT 3.1.1 client as a socket family.
 *
 * Implementation notes
 *
 * - Layers, each file owning its state, calling only downwards:
 *
 *     af_mqtt.c, sockopt.c  system calls, and every wait in them
 *     session.c, timers.c   the state machine; keepalive decisions,
 *                           subscribing, ending the session
 *     rx.c, tx.c            packet queues and framing; they return errors
 *                           and never end the session themselves
 *     flow.c, config.c      packet identifiers, window and delivery
 *                           reports; the option store
 *     transport.c           the inner TCP socket: our own, or the one
 *                           the application attached
 *     tls.c                 kTLS records on an attached socket
 *     codec.c               the wire format, no socket code
 *
 *   The one call upwards is the upcall of the transport's callbacks and
 *   the timer into the session: mqtt_session_kick() and
 *   mqtt_session_kick_data().  tools/check-layers.sh checks the objects.
 *
 * - Each AF_MQTT socket drives one inner TCP socket, created on connect()
 *   in the caller's network namespace, or attached by the application
 *   with MQTT_TRANSPORT_FD, maybe with kTLS on it (transport.c).  The
 *   session state machine (session.c) runs in process context under the
 *   AF_MQTT socket lock, either in a system call that is in the kernel
 *   anyway (mqtt_session_sync_begin: connect; send, which so handles the
 *   acks of what it sends; close, for the events of TCP's closing) or in
 *   the session's work on its workqueue.  No thread exists per socket.
 *
 * - Lock order: AF_MQTT socket lock, then the TCP socket's lock (taken
 *   inside kernel_sendmsg/kernel_recvmsg/sock_release).  The TCP
 *   callbacks hold the TCP socket's bh lock and its sk_callback_lock
 *   (read); they take no AF_MQTT lock, only set atomic bits, wake the
 *   wait queue or queue work.  An attached socket's events come from its
 *   wait queue (mqtt_transport_wake(), under that queue's lock), which
 *   may wake ours: its lock, then ours, never the other way.  A function
 *   documented "the socket, locked" asserts it (mqtt_lock_held()).
 *
 * - References on the AF_MQTT sock: the socket file holds one until
 *   release; a queued mqtt_sock.work holds one (dropped by the work or
 *   by whoever cancels it); the pending timer (connect deadline, then
 *   keepalive) holds one.  release first detaches the TCP callbacks and
 *   stops the timer under the lock, so that nothing can queue the work
 *   again, then cancels the work.
 *
 * - The sock's proto holds a module reference until the last sk is freed,
 *   which can happen at the end of the session's work; module exit
 *   destroys the workqueue, which waits for that work to return.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>

#include "mqtt.h"

static int family = AF_MQTT;
module_param(family, int, 0444);
MODULE_PARM_DESC(family, "address family number to register (default 22)");

static struct proto mqtt_proto = {
	.name		= "MQTT",
	.owner		= THIS_MODULE,
	.obj_size	= sizeof(struct mqtt_sock),
};

/**
 * mqtt_sock_wait() - sleep, locked, until @done says so
 * @msk: the socket, locked
 * @timeo: how long, in jiffies; what is left of it on return
 * @done: the condition; evaluated with the lock held and, as
 *	sk_wait_event() does, once more just after dropping it: it reads
 *	only what may be read without the lock
 * @arg: passed to @done
 * @flags: MQTT_WAIT_RX for a reader of the receive queue
 *
 * Every wait of a system call goes through here, so every wait keeps the
 * rule of "Driving the state machine" in mqtt.h: while the caller (or
 * another) drives, or a reader asks (MQTT_WAIT_RX), events wake sleepers
 * instead of queueing work, so a sleep also ends on MQTT_EV_PENDING and
 * the sleeper runs the state machine itself before it looks at @done
 * again.  Where work was queued instead, the run is merely early.
 *
 * Return: 0 once @done holds; -EAGAIN when *@timeo ran out (or was 0),
 * -ERESTARTSYS or -EINTR on a signal.
 */
int mqtt_sock_wait(struct mqtt_sock *msk, long *timeo,
		   bool (*done)(const struct mqtt_sock *msk, const void *arg),
		   const void *arg, unsigned int flags)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct sock *sk = &msk->sk;
	int err = 0;

	mqtt_lock_held(msk);
	add_wait_queue(sk_sleep(sk), &wait);
	while (!done(msk, arg)) {
		if (!*timeo) {
			err = -EAGAIN;
			break;
		}
		if (signal_pending(current)) {
			err = sock_intr_errno(*timeo);
			break;
		}
		if (flags & MQTT_WAIT_RX)
			atomic_inc(&msk->rx_waiters);
		sk_wait_event(sk, timeo, done(msk, arg) ||
			      mqtt_session_pending(msk), &wait);
		if (flags & MQTT_WAIT_RX) {
			atomic_dec(&msk->rx_waiters);
			/* Pairs with mqtt_session_kick_data() (B in mqtt.h):
			 * data it woke us for, or that came as we left, is
			 * read here, not left to no one.
			 */
			smp_mb__after_atomic();
		}
		if (mqtt_session_pending(msk))
			mqtt_session_progress(msk);
	}
	remove_wait_queue(sk_sleep(sk), &wait);
	return err;
}

static bool mqtt_connect_ended(const struct mqtt_sock *msk, const void *arg)
{
	return mqtt_state(&msk->sk) != MQTT_CONNECTING;
}

/* Wait, as TCP's connect() does, until the handshake ends, the send
 * timeout runs out (-EINPROGRESS) or a signal comes; the handshake goes
 * on in the last two cases.  Runs the state machine itself meanwhile.
 */
static int mqtt_wait_connect(struct mqtt_sock *msk, long timeo)
{
	struct sock *sk = &msk->sk;
	int err;

	/* Non-blocking: even an outcome already known is read through
	 * poll() and SO_ERROR, as with TCP.  A TCP handshake that already
	 * finished (a local broker) gets its CONNECT from here rather than
	 * from the work.
	 */
	if (!timeo) {
		if (mqtt_session_pending(msk))
			mqtt_session_progress(msk);
		return -EINPROGRESS;
	}
	err = mqtt_sock_wait(msk, &timeo, mqtt_connect_ended, NULL, 0);
	if (err)
		return err == -EAGAIN ? -EINPROGRESS : err;
	/* Accepted: a session that ended at once reports that later. */
	if (mqtt_state(sk) == MQTT_CONNECTED || mqtt_state(sk) == MQTT_CLOSED)
		return 0;
	err = sock_error(sk);
	return err ? err : -ECONNRESET;
}

static int mqtt_connect(struct socket *sock, struct sockaddr_unsized *uaddr,
			int addrlen, int flags)
{
	struct sockaddr *addr = (struct sockaddr *)uaddr;
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
	mqtt_session_sync_begin(msk);
	err = mqtt_session_connect(msk, addr, addrlen);
	if (!err)
		err = mqtt_wait_connect(msk, sock_sndtimeo(sk, flags & O_NONBLOCK));
	mqtt_session_sync_end(msk);
out:
	release_sock(sk);
	return err;
}

static int mqtt_cmsg_int(struct cmsghdr *cmsg, int max, int *val)
{
	if (cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EINVAL;
	memcpy(val, CMSG_DATA(cmsg), sizeof(int));
	return *val < 0 || *val > max ? -EINVAL : 0;
}

static int mqtt_pub_args(struct mqtt_sock *msk, struct msghdr *msg,
			 struct mqtt_pub_args *a)
{
	struct mqtt_field topic = mqtt_config_str(&msk->conf,
						  MQTT_STR_PUBLISH_TOPIC);
	struct cmsghdr *cmsg;
	int err, val;

	a->topic = topic.data;
	a->topic_len = topic.len;
	a->qos = msk->conf.publish_qos;
	a->retain = msk->conf.publish_retain;

	if (msg->msg_controllen && msg->msg_control_is_user)
		return -EINVAL;
	for_each_cmsghdr(cmsg, msg) {
		if (!CMSG_OK(msg, cmsg) || cmsg->cmsg_level != SOL_MQTT)
			return -EINVAL;
		switch (cmsg->cmsg_type) {
		case MQTT_PUBLISH_TOPIC:
			a->topic = CMSG_DATA(cmsg);
			a->topic_len = cmsg->cmsg_len - CMSG_LEN(0);
			if (!mqtt_topic_name_valid(a->topic, a->topic_len))
				return -EINVAL;
			break;
		case MQTT_PUBLISH_QOS:
			err = mqtt_cmsg_int(cmsg, MQTT_QOS_MAX, &val);
			if (err)
				return err;
			a->qos = val;
			break;
		case MQTT_PUBLISH_RETAIN:
			err = mqtt_cmsg_int(cmsg, 1, &val);
			if (err)
				return err;
			a->retain = val;
			break;
		default:
			return -EINVAL;
		}
	}
	return a->topic ? 0 : -EDESTADDRREQ;
}

static bool mqtt_send_stopped(const struct mqtt_sock *msk)
{
	return mqtt_state(&msk->sk) != MQTT_CONNECTED ||
	       (msk->sk.sk_shutdown & SEND_SHUTDOWN);
}

/* The errno of a send on a stopped socket; consumes a pending error. */
static int mqtt_send_error(struct mqtt_sock *msk)
{
	switch (mqtt_state(&msk->sk)) {
	case MQTT_CONNECTED:
	case MQTT_CLOSED:
		return sock_error(&msk->sk) ?: -EPIPE;
	default:
		return -ENOTCONN;
	}
}

static bool mqtt_send_room(const struct mqtt_sock *msk, u8 qos)
{
	return !mqtt_txq_bytes(msk) &&
	       (!qos || mqtt_window_used(msk) <
			msk->conf.inflight_max);
}

struct mqtt_send_wait {
	u8 qos;
};

static bool mqtt_send_can_go(const struct mqtt_sock *msk, const void *arg)
{
	const struct mqtt_send_wait *w = arg;

	return mqtt_send_stopped(msk) || mqtt_send_room(msk, w->qos);
}

/**
 * mqtt_sendmsg() - publish one message
 * @sock: the socket
 * @msg: the payload, and SOL_MQTT cmsgs for topic, QoS and retain
 * @len: the payload's length
 *
 * Return: @len once the PUBLISH is handed to TCP or queued behind what
 * is, else -errno.
 */
static int mqtt_sendmsg(struct socket *sock, struct msghdr *msg, size_t len)
{
	struct sock *sk = sock->sk;
	struct mqtt_sock *msk = mqtt_sk(sk);
	struct mqtt_pub_args a;
	u64 remlen;
	long timeo;
	int err;

	/* sendmmsg() sets MSG_BATCH on all but its last message: a hint,
	 * taken as one; each message is still one PUBLISH, pushed at once.
	 */
	if (msg->msg_flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR |
			       MSG_BATCH | MSG_CMSG_COMPAT))
		return -EOPNOTSUPP;

	timeo = sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT);
	lock_sock(sk);
	mqtt_session_sync_begin(msk);
	/* The defaults (a topic buffer among them) may change while the
	 * lock is dropped to wait: take them again after every wait.
	 */
	for (;;) {
		struct mqtt_send_wait w;

		err = mqtt_pub_args(msk, msg, &a);
		if (err)
			goto out;
		if (mqtt_send_stopped(msk)) {
			err = mqtt_send_error(msk);
			goto out;
		}
		remlen = mqtt_publish_remlen(a.topic_len, a.qos, len);
		if (remlen > MQTT_REMLEN_MAX ||
		    1 + mqtt_remlen_size(remlen) + remlen >
		    READ_ONCE(sk->sk_sndbuf)) {
			err = -EMSGSIZE;
			goto out;
		}
		if (mqtt_send_room(msk, a.qos))
			break;
		/* Wait, as a stream socket does, for room. */
		w.qos = a.qos;
		err = mqtt_sock_wait(msk, &timeo, mqtt_send_can_go, &w, 0);
		if (err)
			goto out;
	}
	err = mqtt_session_publish(msk, &a, remlen, &msg->msg_iter);
	if (!err)
		err = len;
out:
	mqtt_session_sync_end(msk);
	release_sock(sk);
	if (err == -EPIPE && !(msg->msg_flags & MSG_NOSIGNAL))
		send_sig(SIGPIPE, current, 0);
	return err;
}

/* No more messages will come: the session or its receive side ended.
 * After DISCONNECT the client is done with the connection
 * [MQTT-3.14.4-1]: what is queued is read, then end of stream.
 */
static bool mqtt_recv_stopped(const struct mqtt_sock *msk)
{
	return mqtt_state(&msk->sk) != MQTT_CONNECTED ||
	       (msk->sk.sk_shutdown & SHUTDOWN_MASK);
}

/* Once stopped and drained: the session's error once, then 0. */
static int mqtt_recv_end(struct mqtt_sock *msk)
{
	switch (mqtt_state(&msk->sk)) {
	case MQTT_CONNECTED:
		return 0;
	case MQTT_CLOSED:
		return sock_error(&msk->sk);
	default:
		return -ENOTCONN;
	}
}

static bool mqtt_recv_can_go(const struct mqtt_sock *msk, const void *arg)
{
	return !list_empty(&msk->rxq) || mqtt_recv_stopped(msk);
}

/**
 * mqtt_recvmsg() - read one PUBLISH
 * @sock: the socket
 * @msg: receives the payload, and SOL_MQTT cmsgs for topic, QoS, retain
 *	and DUP
 * @len: room for the payload
 * @flags: MSG_DONTWAIT, MSG_PEEK, MSG_TRUNC, MSG_ERRQUEUE
 *
 * Queued messages are returned even after the session ended; then its
 * error, once; then 0.  Every message has MSG_EOR, end of stream not.
 *
 * Return: bytes copied (the whole payload's length with MSG_TRUNC), 0 at
 * end of stream, else -errno.
 */
static int mqtt_recvmsg(struct socket *sock, struct msghdr *msg, size_t len,
			int flags)
{
	struct sock *sk = sock->sk;
	struct mqtt_sock *msk = mqtt_sk(sk);
	long timeo;
	int ret;

	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	if (flags & MSG_ERRQUEUE) {
		ret = sock_recv_errqueue(sk, msg, len, SOL_MQTT,
					 MQTT_DELIVERY_REPORTS);
		lock_sock(sk);
		mqtt_flow_reports_retry(msk);
		release_sock(sk);
		return ret;
	}

	timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
	lock_sock(sk);
	ret = mqtt_sock_wait(msk, &timeo, mqtt_recv_can_go, NULL,
			     MQTT_WAIT_RX);
	if (ret)
		goto out;
	if (list_empty(&msk->rxq)) {
		ret = mqtt_recv_end(msk);
		goto out;
	}
	ret = mqtt_rx_recv(msk, msg, len, flags);
	/* Room again: resume reading the TCP socket. */
	if (ret >= 0 && !(flags & MSG_PEEK) && msk->rx_blocked)
		mqtt_session_kick(msk);
out:
	release_sock(sk);
	return ret;
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
		err = mqtt_transport_getname(msk, addr, peer);
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

/* SO_LINGER: the broker acknowledged every QoS 1/2 message, or the
 * session ended.
 */
static bool mqtt_linger_done(const struct mqtt_sock *msk, const void *arg)
{
	return mqtt_state(&msk->sk) != MQTT_CONNECTED ||
	       (!mqtt_inflight(msk) && !mqtt_txq_bytes(msk));
}

static int mqtt_release(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct mqtt_sock *msk;

	if (!sk)
		return 0;
	msk = mqtt_sk(sk);

	lock_sock(sk);
	if (mqtt_session_lingers(msk)) {
		long timeo = sk->sk_lingertime;

		/* Whatever ends the wait, the session ends next. */
		mqtt_sock_wait(msk, &timeo, mqtt_linger_done, NULL, 0);
	}
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
	.setsockopt	= mqtt_sockopt_set,
	.getsockopt	= mqtt_sockopt_get,
	.sendmsg	= mqtt_sendmsg,
	.recvmsg	= mqtt_recvmsg,
	.mmap		= sock_no_mmap,
};

static void mqtt_destruct(struct sock *sk)
{
	mqtt_session_destroy(mqtt_sk(sk));
	skb_queue_purge(&sk->sk_error_queue);
}

/* The wait queue of an AF_MQTT socket is woken from inside the wake-up
 * of an attached TCP socket's wait queue (transport.c listens there):
 * its own lock class, always taken after TCP's, tells lockdep that the
 * two never nest the other way.
 */
static struct lock_class_key mqtt_wq_lock_key;

static int mqtt_create(struct net *net, struct socket *sock, int protocol,
		       int kern)
{
	struct sock *sk;

	if (sock->type != SOCK_SEQPACKET)
		return -ESOCKTNOSUPPORT;
	if (protocol)
		return -EPROTONOSUPPORT;

	sk = sk_alloc(net, family, GFP_KERNEL, &mqtt_proto, kern);
	if (!sk)
		return -ENOMEM;
	sock->ops = &mqtt_ops;
	lockdep_set_class(&sock->wq.wait.lock, &mqtt_wq_lock_key);
	sock_init_data(sock, sk);
	sk->sk_destruct = mqtt_destruct;
	mqtt_session_init(mqtt_sk(sk));
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
	err = mqtt_session_module_init();
	if (err)
		return err;
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
	mqtt_session_module_exit();
	return err;
}

static void __exit mqtt_exit(void)
{
	sock_unregister(family);
	mqtt_session_module_exit();
	proto_unregister(&mqtt_proto);
}

module_init(mqtt_init);
module_exit(mqtt_exit);

MODULE_DESCRIPTION("AF_MQTT: MQTT 3.1.1 client sockets");
MODULE_LICENSE("GPL");
MODULE_VERSION(MQTT_VERSION);
MODULE_ALIAS_NETPROTO(AF_MQTT);
