/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mqtt_bench: AF_MQTT against user-space MQTT clients, side by side.
 *
 * Every measurement runs in a fresh child process (fork), so library state,
 * threads and rusage never leak from one run into the next.  A contender
 * implements the figures it can as the callbacks of struct bench_contender;
 * inside each callback it brackets the measured part with bench_start() and
 * bench_stop().  Those record the monotonic clock, the process's rusage
 * (all threads) and, for the memory figure, kernel memory; when the run is
 * counting syscalls they also emit a marker syscall the tracing parent
 * looks for, so only the bracketed syscalls are counted.
 *
 * Rules every contender follows, so that the figures compare like with like:
 *  - MQTT 3.1.1, clean session, client id from bench_client_id(), no user
 *    name or password, keepalive 60 s unless the figure says otherwise;
 *  - the broker is ctx->broker (mosquitto in the same VM);
 *  - a callback returns 0, or a negative errno after printing why on stderr;
 *    -EOPNOTSUPP when the client cannot do what the figure asks (shown as
 *    n/a, e.g. a keepalive below the library's minimum);
 *  - a callback never calls exit(); the parent enforces a timeout.
 */
#ifndef MQTT_BENCH_H
#define MQTT_BENCH_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

/* Largest payload a figure uses. */
#define BENCH_MAX_PAYLOAD	1024

struct bench_ctx {
	struct sockaddr_in broker;	/* 127.0.0.1:1883 in the VM */
	char topic[64];			/* unique to this run */
	const char *contender;		/* name, for client ids */

	/*
	 * The TLS figures: connect to @tls_broker instead, TLS (OpenSSL's
	 * default protocol and cipher, the broker verified against
	 * @tls_ca); a contender without TLS returns -EOPNOTSUPP.
	 */
	int tls;
	struct sockaddr_in tls_broker;	/* 127.0.0.1:8883 in the VM */
	const char *tls_ca;

	/* Filled by bench_start()/bench_stop(); read by the framework. */
	struct timespec t0, t1;
	struct rusage ru0, ru1;
	uint64_t kthreads0, kthreads1;	/* kworker/ksoftirqd CPU, ns */
	long mem0[8], mem1[8];		/* kernel memory, see bench.c */
	int started, stopped;

	/* Private to the framework. */
	int measure_memory;
	int ready_fd;			/* receive figure: the publisher waits */
};

struct bench_contender {
	const char *name;

	/*
	 * Figure 1: one complete sequential cycle: create the client, connect
	 * the TCP socket, send CONNECT, wait for a CONNACK with return code 0,
	 * send DISCONNECT, close.  The framework times the whole call; the
	 * callback does not call bench_start()/bench_stop().  @seq counts the
	 * cycles of this run from 0.
	 */
	int (*connect_once)(struct bench_ctx *ctx, unsigned int seq);

	/*
	 * Figure 2: @n connects at once, driven by one epoll loop in this
	 * thread: bench_start(), start connects (non-blocking) while fewer
	 * than BENCH_CONNECT_WINDOW wait for their CONNACK, loop until every
	 * one has its CONNACK (return code 0), bench_stop(), then disconnect
	 * and close all (not timed).  Creating the client objects is timed.
	 * NULL when the client has no such mode.
	 */
	int (*connect_many)(struct bench_ctx *ctx, int n);

	/*
	 * Figure 3: connect (not timed), bench_start(), publish @n messages of
	 * @len bytes (0x5a) to ctx->topic at @qos (0 or 1), not retained, as
	 * fast as the client allows with at most 64 QoS 1 messages
	 * unacknowledged; for QoS 1 wait until every PUBACK is in.  QoS 0
	 * ends with a fence: one more message, at QoS 1, and its PUBACK.  The
	 * broker handles a connection's packets in order, so the fence's
	 * PUBACK says all @n reached it; without it the figure would time
	 * how fast a client queues bytes in its socket (a client that leaves
	 * Nagle on would look fastest by deferring the work past the clock).
	 * bench_stop(), then disconnect (not timed).
	 */
	int (*publish)(struct bench_ctx *ctx, int qos, size_t len, int n);

	/*
	 * Figure 4: connect, subscribe to ctx->topic at @qos and wait for the
	 * SUBACK (not timed), then call bench_ready(): it starts the clock and
	 * lets the framework's publisher send @n messages of @len bytes at
	 * @qos.  Receive all @n (check each length; for QoS 1 the client acks
	 * them as it normally does), bench_stop(), disconnect.
	 */
	int (*receive)(struct bench_ctx *ctx, int qos, size_t len, int n);

	/*
	 * Figure 5: connect @n sessions with keepalive @keepalive seconds (not
	 * timed), bench_start(), keep them all alive for @secs seconds the way
	 * an application using this client must, bench_stop(), then check
	 * that every session is still connected (return -ENOTCONN if not) and
	 * disconnect.
	 */
	int (*idle)(struct bench_ctx *ctx, int n, int keepalive, int secs);

	/*
	 * Figure 6: bench_start() (memory baseline), connect @n sessions,
	 * bench_stop() (memory with all @n connected and idle), disconnect.
	 * NULL when the figure does not apply.
	 */
	int (*hold)(struct bench_ctx *ctx, int n);
};

extern const struct bench_contender bench_af_mqtt;
extern const struct bench_contender bench_raw;
extern const struct bench_contender bench_libmosquitto;
extern const struct bench_contender bench_paho;

/* The floor's session, also the receive figure's publisher. */
int raw_connect(struct bench_ctx *ctx, unsigned int i, int keepalive);
int raw_publish(int fd, const char *topic, int qos, size_t len, int n);
int raw_disconnect_close(int fd);
int raw_nodelay(int fd);

/*
 * TLS for a contender of the TLS figures: the options of a client of
 * ctx->tls_broker (samples/mqtt/ktls_openssl.h).
 */
struct ktls_opts;
void bench_tls_opts(const struct bench_ctx *ctx, struct ktls_opts *o);

/*
 * TLS in user space on the connected @fd (the floor of the TLS figures):
 * the handshake with OpenSSL; from then on bench_recv(), bench_send(),
 * bench_close() and the two below go through it.  0 or a negative errno.
 */
int bench_tls_client(struct bench_ctx *ctx, int fd);

/* read(), write() and close() of a session, TLS or not. */
ssize_t bench_recv(int fd, void *buf, size_t len);
ssize_t bench_send(int fd, const void *buf, size_t len);
int bench_close(int fd);

/* All of @len, or -1 with errno set (ECONNRESET at end of file). */
int bench_write_all(int fd, const void *buf, size_t len);
int bench_read_all(int fd, void *buf, size_t len);

/* @n descriptors, all -1; NULL when out of memory. */
int *bench_fds(int n);

/* Close every descriptor of @fds that is open, with @close_fd; free it. */
void bench_close_fds(int *fds, int n, int (*close_fd)(int fd));

/*
 * The memory figure for a client whose session is a descriptor:
 * bench_start(), @open_session for 0..@n-1, bench_stop(), then close all.
 */
int bench_hold(struct bench_ctx *ctx, int n,
	       int (*open_session)(struct bench_ctx *ctx, unsigned int i),
	       int (*close_fd)(int fd));

/* Start and stop the measured part of a run (see above). */
void bench_start(struct bench_ctx *ctx);
void bench_stop(struct bench_ctx *ctx);

/* Receive figure: start the clock and release the publisher. */
void bench_ready(struct bench_ctx *ctx);

/* "bench-<contender>-<pid>-<i>": unique among live sessions. */
void bench_client_id(const struct bench_ctx *ctx, unsigned int i,
		     char *buf, size_t size);

/*
 * Connects in progress at once in figure 2: mosquitto listens with a
 * backlog of 100, and a SYN beyond it is dropped and retried after TCP's
 * initial 1 s timeout, which would then be all the figure measured.
 */
#define BENCH_CONNECT_WINDOW	100

/* The payload byte every figure sends. */
#define BENCH_PAYLOAD_BYTE	0x5a

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);

#endif /* MQTT_BENCH_H */
