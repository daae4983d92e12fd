// SPDX-License-Identifier: GPL-2.0
/*
 * mqtt_bench: AF_MQTT against a hand-written client on TCP (the floor),
 * libmosquitto and Paho C, against one broker, figures of issue 5:
 *
 *   connect      sequential connect/CONNACK/close: p50, p99, connects/s
 *   connect_many N non-blocking connects in one epoll loop: time to all
 *   publish      QoS 0/1 x 16 B/1 KiB: msgs/s, CPU and syscalls per msg
 *   receive      the broker fanning out to one subscriber: msgs/s, CPU
 *   idle         100 sessions, keepalive 1 s, 30 s: wake-ups, CPU
 *   memory       kernel memory per connected session
 *   tls_connect, tls_publish, tls_receive
 *                the same over TLS (issue 12): AF_MQTT with the handshake
 *                in user space and kTLS, libmosquitto with its OpenSSL,
 *                the floor a hand-written client on OpenSSL
 *
 * Contenders are interleaved (A B C D A B C D ...) over --rounds rounds so
 * drift hits all of them alike; every run is a fresh child process.
 * Syscalls are counted in a separate, untimed run under ptrace.
 * Results: a table on stdout, JSON with every round to --json.
 *
 * Meant to run in the test VM under QEMU icount, where the clock counts
 * executed instructions: see selftests/net/mqtt/vm/README.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/ptrace.h>

#include "bench.h"
#include "ktls_openssl.h"

/* The marker syscall bench_start()/bench_stop() make for the tracer. */
#define MARK_WHICH	0x6d717474	/* "mqtt": an invalid getpriority() */
#define MARK_START	1
#define MARK_STOP	2

#define MAX_SAMPLES	100000
#define CGROUP_ROOT	"/sys/fs/cgroup"
#define CGROUP_BENCH	CGROUP_ROOT "/mqtt-bench"

enum {
	MEM_SLAB, MEM_PERCPU, MEM_KSTACK, MEM_PGTABLE,	/* meminfo, kB */
	MEM_CG_CURRENT, MEM_CG_SLAB, MEM_CG_SOCK,	/* bytes */
	MEM_FIELDS
};

static struct {
	int rounds;
	int connects;		/* cycles per connect run */
	int many;		/* sockets of connect_many */
	int pub_msgs;		/* messages per publish run */
	int recv_msgs;		/* messages per receive run */
	int trace_msgs;		/* messages in the syscall-counting runs */
	int idle_socks, idle_secs;
	const char *idle_keepalives;	/* list of seconds */
	int mem_socks;
	int timeout;		/* seconds per run */
	const char *json;
	const char *figures;
	const char *contenders;
	const char *clock;	/* what CLOCK_MONOTONIC counts */
	struct sockaddr_in broker;
	struct sockaddr_in tls_broker;
	const char *tls_ca;
} opt = {
	.rounds = 5,
	.connects = 200,
	.many = 1000,
	.pub_msgs = 20000,
	.recv_msgs = 10000,
	.trace_msgs = 2000,
	.idle_socks = 100,
	.idle_keepalives = "1,5",
	.idle_secs = 30,
	.mem_socks = 2000,
	.timeout = 900,
	.figures = "connect,connect_many,publish,receive,idle,memory,"
		   "tls_connect,tls_publish,tls_receive",
	.contenders = "af_mqtt,raw,libmosquitto,paho",
};

static const struct bench_contender *all_contenders[] = {
	&bench_af_mqtt, &bench_raw, &bench_libmosquitto, &bench_paho,
};

#define NR_ALL ((int)(sizeof(all_contenders) / sizeof(all_contenders[0])))

static const struct bench_contender *contenders[NR_ALL];
static int nr_contenders;

/* ------------------------------------------------------ child helpers -- */

static int tracing;	/* this child runs under the syscall counter */

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static long meminfo_kb(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static long memstat_bytes(const char *buf, const char *key)
{
	const char *p = buf;
	size_t klen = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ' ')
			return strtol(p + klen + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = -1;

	if (fd >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? 0 : -1;
}

static void memory_snapshot(long *m)
{
	char buf[8192];

	/* Let RCU-freed objects of earlier runs go first. */
	read_file("/proc/meminfo", buf, sizeof(buf));
	m[MEM_SLAB] = meminfo_kb(buf, "\nSlab:");
	m[MEM_PERCPU] = meminfo_kb(buf, "\nPercpu:");
	m[MEM_KSTACK] = meminfo_kb(buf, "\nKernelStack:");
	m[MEM_PGTABLE] = meminfo_kb(buf, "\nPageTables:");
	if (read_file(CGROUP_BENCH "/memory.stat", buf, sizeof(buf)))
		buf[0] = 0;
	m[MEM_CG_SLAB] = memstat_bytes(buf, "slab");
	m[MEM_CG_SOCK] = memstat_bytes(buf, "sock");
	m[MEM_CG_CURRENT] = read_file(CGROUP_BENCH "/memory.current", buf,
				      sizeof(buf)) ? -1 : strtol(buf, NULL, 10);
}

/*
 * CPU time of the kernel's worker threads (kworker, ksoftirqd): work the
 * kernel does on a socket's behalf outside the process.  From
 * /proc/PID/schedstat, in ns.
 */
static uint64_t kthreads_ns(void)
{
	uint64_t sum = 0;
	struct dirent *d;
	DIR *dir = opendir("/proc");
	char path[300], buf[128];

	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", d->d_name);
		if (read_file(path, buf, sizeof(buf)) ||
		    (strncmp(buf, "kworker", 7) &&
		     strncmp(buf, "ksoftirqd", 9)))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/schedstat", d->d_name);
		if (!read_file(path, buf, sizeof(buf)))
			sum += strtoull(buf, NULL, 10);
	}
	if (dir)
		closedir(dir);
	return sum;
}

/*
 * Slab objects in use, per cache, from /proc/slabinfo: exact to a few
 * objects per cache (SLUB counts objects of per-CPU slabs as in use),
 * unlike the page-granular Slab of /proc/meminfo or the memory cgroup's
 * batched counters.
 */
#define SLAB_CACHES	256

struct slab_snap {
	int n;
	char name[SLAB_CACHES][32];
	long bytes[SLAB_CACHES];	/* active objects x object size */
};

static struct slab_snap slab0, slab1;

static void slab_snapshot(struct slab_snap *s)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512];
	long active, total, size;

	s->n = 0;
	while (f && fgets(line, sizeof(line), f) && s->n < SLAB_CACHES) {
		if (sscanf(line, "%31s %ld %ld %ld", s->name[s->n], &active,
			   &total, &size) == 4)
			s->bytes[s->n++] = active * size;
	}
	if (f)
		fclose(f);
}

#define SLAB_TOP	8

/* The caches that grew most from slab0 to slab1, and the total growth. */
static long slab_delta(char top[SLAB_TOP][32], long *top_bytes)
{
	long total = 0;
	int i, j, k;

	for (k = 0; k < SLAB_TOP; k++) {
		top[k][0] = 0;
		top_bytes[k] = 0;
	}
	for (i = 0; i < slab1.n; i++) {
		long d = slab1.bytes[i];

		for (j = 0; j < slab0.n; j++)
			if (!strcmp(slab0.name[j], slab1.name[i]))
				break;
		if (j < slab0.n)
			d -= slab0.bytes[j];
		total += d;
		for (k = 0; k < SLAB_TOP && d <= top_bytes[k]; k++)
			;
		if (k == SLAB_TOP)
			continue;
		memmove(top[k + 1], top[k], (SLAB_TOP - k - 1) * 32);
		memmove(top_bytes + k + 1, top_bytes + k,
			(SLAB_TOP - k - 1) * sizeof(*top_bytes));
		snprintf(top[k], 32, "%s", slab1.name[i]);
		top_bytes[k] = d;
	}
	return total;
}

static void mark(int what)
{
	if (tracing)
		syscall(SYS_getpriority, MARK_WHICH, what);
}

void bench_start(struct bench_ctx *ctx)
{
	if (ctx->measure_memory) {
		memory_snapshot(ctx->mem0);
		slab_snapshot(&slab0);
	}
	ctx->kthreads0 = kthreads_ns();
	getrusage(RUSAGE_SELF, &ctx->ru0);
	ctx->started = 1;
	mark(MARK_START);
	clock_gettime(CLOCK_MONOTONIC, &ctx->t0);
}

void bench_stop(struct bench_ctx *ctx)
{
	clock_gettime(CLOCK_MONOTONIC, &ctx->t1);
	mark(MARK_STOP);
	getrusage(RUSAGE_SELF, &ctx->ru1);
	ctx->kthreads1 = kthreads_ns();
	if (ctx->measure_memory) {
		memory_snapshot(ctx->mem1);
		slab_snapshot(&slab1);
	}
	ctx->stopped = 1;
}

void bench_ready(struct bench_ctx *ctx)
{
	char c = 1;

	bench_start(ctx);
	if (write(ctx->ready_fd, &c, 1) != 1)
		perror("bench: ready");
}

void bench_client_id(const struct bench_ctx *ctx, unsigned int i,
		     char *buf, size_t size)
{
	snprintf(buf, size, "bench-%s-%d-%u", ctx->contender, (int)getpid(),
		 i);
}

int *bench_fds(int n)
{
	int *fds = malloc(n * sizeof(*fds));
	int i;

	if (fds)
		for (i = 0; i < n; i++)
			fds[i] = -1;
	return fds;
}

void bench_close_fds(int *fds, int n, int (*close_fd)(int fd))
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close_fd(fds[i]);
	free(fds);
}

int bench_hold(struct bench_ctx *ctx, int n,
	       int (*open_session)(struct bench_ctx *ctx, unsigned int i),
	       int (*close_fd)(int fd))
{
	int *fds = bench_fds(n), i, err = 0;

	if (!fds)
		return -ENOMEM;
	bench_start(ctx);
	for (i = 0; i < n; i++) {
		fds[i] = open_session(ctx, i);
		if (fds[i] < 0) {
			err = fds[i];
			goto out;
		}
	}
	bench_stop(ctx);
out:
	bench_close_fds(fds, n, close_fd);
	return err;
}

/* ---------------------------------------------------------- one run -- */

enum figure { FIG_CONNECT, FIG_CONNECT_MANY, FIG_PUBLISH, FIG_RECEIVE,
	      FIG_IDLE, FIG_MEMORY, NR_FIGURES };

static const char *const figure_names[NR_FIGURES] = {
	"connect", "connect_many", "publish", "receive", "idle", "memory",
};

struct run_spec {
	enum figure fig;
	int tls;		/* over TLS (ctx.tls) */
	int qos;
	size_t len;
	int n;			/* cycles, sockets or messages */
	int keepalive;		/* idle figure */
	int trace;		/* count syscalls instead of timing */
};

struct run_result {
	int rc;
	uint64_t elapsed_ns, user_ns, sys_ns, kthreads_ns;
	long nvcsw, nivcsw;
	long mem0[MEM_FIELDS], mem1[MEM_FIELDS];
	long syscalls;		/* trace runs */
	long slab_bytes;	/* memory: slab growth, all caches */
	char slab_top[SLAB_TOP][32];
	long slab_top_bytes[SLAB_TOP];
	int nsamples;
	uint64_t *samples;	/* connect: per-cycle ns */
};

static int supported(const struct bench_contender *c, enum figure fig)
{
	switch (fig) {
	case FIG_CONNECT:	return !!c->connect_once;
	case FIG_CONNECT_MANY:	return !!c->connect_many;
	case FIG_PUBLISH:	return !!c->publish;
	case FIG_RECEIVE:	return !!c->receive;
	case FIG_IDLE:		return !!c->idle;
	case FIG_MEMORY:	return !!c->hold;
	default:		return 0;
	}
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return tv->tv_sec * 1000000000ull + tv->tv_usec * 1000ull;
}

/*
 * Sessions whose TLS runs in user space (the floor of the TLS figures), by
 * descriptor: bench_recv(), bench_send() and bench_close() go through
 * OpenSSL for them, as read(), write() and close() for the others.
 */
#define BENCH_TLS_FDS		1024
static SSL *bench_ssl[BENCH_TLS_FDS];

static SSL *bench_ssl_of(int fd)
{
	return fd >= 0 && fd < BENCH_TLS_FDS ? bench_ssl[fd] : NULL;
}

/* An SSL_* result as read()/write() give theirs. */
static ssize_t bench_ssl_ret(SSL *ssl, int n)
{
	if (n > 0)
		return n;
	if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (!errno)
		errno = EIO;
	return -1;
}

ssize_t bench_recv(int fd, void *buf, size_t len)
{
	SSL *ssl = bench_ssl_of(fd);

	if (!ssl)
		return read(fd, buf, len);
	return bench_ssl_ret(ssl, SSL_read(ssl, buf, len > INT_MAX ?
					   INT_MAX : (int)len));
}

ssize_t bench_send(int fd, const void *buf, size_t len)
{
	SSL *ssl = bench_ssl_of(fd);

	if (!ssl)
		return write(fd, buf, len);
	return bench_ssl_ret(ssl, SSL_write(ssl, buf, len > INT_MAX ?
					    INT_MAX : (int)len));
}

int bench_close(int fd)
{
	SSL *ssl = bench_ssl_of(fd);

	if (ssl) {
		SSL_shutdown(ssl);	/* our close_notify */
		SSL_free(ssl);
		bench_ssl[fd] = NULL;
	}
	return close(fd);
}

int bench_tls_client(struct bench_ctx *ctx, int fd)
{
	struct ktls_opts o;
	char err[256];
	SSL_CTX *c;
	SSL *ssl = NULL;

	if (fd >= BENCH_TLS_FDS)
		return -EMFILE;
	bench_tls_opts(ctx, &o);
	c = ktls_ctx_new(&o, err, sizeof(err));
	if (c)
		ssl = ktls_handshake(c, fd, &o, err, sizeof(err));
	SSL_CTX_free(c);
	if (!ssl) {
		fprintf(stderr, "bench: TLS: %s\n", err);
		return -EPROTO;
	}
	bench_ssl[fd] = ssl;
	return 0;
}

int bench_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = bench_send(fd, p, len);

		if (w <= 0) {
			if (!w)
				errno = EIO;
			return -1;
		}
		p += w;
		len -= w;
	}
	return 0;
}

int bench_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t r = bench_recv(fd, p, len);

		if (r <= 0) {
			if (!r)
				errno = ECONNRESET;
			return -1;
		}
		p += r;
		len -= r;
	}
	return 0;
}

/*
 * Every TLS contender: TLS 1.3 with AES-256-GCM, OpenSSL's first choice
 * (what libmosquitto, which sets no suites, negotiates), the broker's
 * certificate checked against the VM's CA and the name localhost.
 */
void bench_tls_opts(const struct bench_ctx *ctx, struct ktls_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ca_file = ctx->tls_ca;
	o->peer_name = "localhost";
	o->suites = KTLS_TLS13_AES_256_GCM;
	o->min_version = TLS1_3_VERSION;
}

static unsigned int run_seq;

static void child_body(const struct bench_contender *c,
		       const struct run_spec *s, int out_fd, int ready_fd)
{
	struct bench_ctx ctx = {
		.broker = opt.broker,
		.contender = c->name,
		.ready_fd = ready_fd,
		.tls = s->tls,
		.tls_broker = opt.tls_broker,
		.tls_ca = opt.tls_ca,
	};
	struct run_result r = { 0 };
	uint64_t *samples = NULL;
	int i;

	snprintf(ctx.topic, sizeof(ctx.topic), "bench/%s/%d/%u", c->name,
		 (int)getpid(), run_seq);
	alarm(opt.timeout);

	switch (s->fig) {
	case FIG_CONNECT:
		samples = calloc(s->n, sizeof(*samples));
		if (!samples) {
			r.rc = -ENOMEM;
			break;
		}
		bench_start(&ctx);
		for (i = 0; i < s->n && !r.rc; i++) {
			uint64_t t = bench_now_ns();

			r.rc = c->connect_once(&ctx, i);
			samples[i] = bench_now_ns() - t;
		}
		bench_stop(&ctx);
		r.nsamples = r.rc ? 0 : s->n;
		break;
	case FIG_CONNECT_MANY:
		r.rc = c->connect_many(&ctx, s->n);
		break;
	case FIG_PUBLISH:
		r.rc = c->publish(&ctx, s->qos, s->len, s->n);
		break;
	case FIG_RECEIVE:
		r.rc = c->receive(&ctx, s->qos, s->len, s->n);
		break;
	case FIG_IDLE:
		r.rc = c->idle(&ctx, s->n, s->keepalive, opt.idle_secs);
		break;
	case FIG_MEMORY:
		i = open(CGROUP_BENCH "/cgroup.procs", O_WRONLY);
		if (i < 0 || bench_write_all(i, "0", 1))
			fprintf(stderr, "bench: no memory cgroup\n");
		if (i >= 0)
			close(i);
		ctx.measure_memory = 1;
		r.rc = c->hold(&ctx, s->n);
		break;
	default:
		r.rc = -EINVAL;
	}
	if (!r.rc && (!ctx.started || !ctx.stopped)) {
		fprintf(stderr, "bench: %s did not bracket %s\n", c->name,
			figure_names[s->fig]);
		r.rc = -EINVAL;
	}
	r.elapsed_ns = (ctx.t1.tv_sec - ctx.t0.tv_sec) * 1000000000ull +
		       ctx.t1.tv_nsec - ctx.t0.tv_nsec;
	r.user_ns = tv_ns(&ctx.ru1.ru_utime) - tv_ns(&ctx.ru0.ru_utime);
	r.sys_ns = tv_ns(&ctx.ru1.ru_stime) - tv_ns(&ctx.ru0.ru_stime);
	r.kthreads_ns = ctx.kthreads1 - ctx.kthreads0;
	r.nvcsw = ctx.ru1.ru_nvcsw - ctx.ru0.ru_nvcsw;
	r.nivcsw = ctx.ru1.ru_nivcsw - ctx.ru0.ru_nivcsw;
	if (ctx.measure_memory)
		r.slab_bytes = slab_delta(r.slab_top, r.slab_top_bytes);
	memcpy(r.mem0, ctx.mem0, sizeof(r.mem0));
	memcpy(r.mem1, ctx.mem1, sizeof(r.mem1));
	if (bench_write_all(out_fd, &r, sizeof(r)) ||
	    (r.nsamples && bench_write_all(out_fd, samples,
				     r.nsamples * sizeof(*samples))))
		_exit(2);
	_exit(0);
}

/*
 * The syscall counter: trace @pid and every thread it creates, count the
 * syscall entries between the MARK_START and MARK_STOP markers.  Waiting
 * for any child may reap the publisher @pub: its status goes to @pub_status.
 */
static long count_syscalls(pid_t pid, pid_t pub, int *pub_status)
{
	long count = 0;
	int counting = 0, status;

	if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD |
		   PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL) ||
	    ptrace(PTRACE_SYSCALL, pid, 0, 0)) {
		perror("bench: ptrace");
		return -1;
	}
	for (;;) {
		struct ptrace_syscall_info si;
		int sig = 0;
		pid_t t = waitpid(-1, &status, __WALL);

		if (t < 0)
			break;
		if (t == pub) {
			*pub_status = status;
			continue;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (t == pid)
				break;
			continue;
		}
		if (!WIFSTOPPED(status))
			continue;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
			if (ptrace(PTRACE_GET_SYSCALL_INFO, t, sizeof(si),
				   &si) > 0 &&
			    si.op == PTRACE_SYSCALL_INFO_ENTRY) {
				if (si.entry.nr == SYS_getpriority &&
				    si.entry.args[0] == MARK_WHICH)
					counting = si.entry.args[1] ==
						   MARK_START;
				else if (counting)
					count++;
			}
		} else if (status >> 8 == (SIGTRAP | PTRACE_EVENT_CLONE << 8) ||
			   WSTOPSIG(status) == SIGSTOP) {
			/* New threads start stopped; clone events: resume. */
		} else {
			sig = WSTOPSIG(status);
		}
		ptrace(PTRACE_SYSCALL, t, 0, sig);
	}
	return count;
}

static pid_t start_publisher(const struct run_spec *s, int ready_rd,
			     const char *topic)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	{
		struct bench_ctx ctx = {
			.broker = opt.broker,
			.contender = "publisher",
		};
		char c;
		int fd;

		alarm(opt.timeout);
		fd = raw_connect(&ctx, 0, 60);
		if (fd < 0 || raw_nodelay(fd))
			_exit(1);
		/* EOF: the subscriber failed before it was ready. */
		if (read(ready_rd, &c, 1) != 1)
			_exit(0);
		if (raw_publish(fd, topic, s->qos, s->len, s->n))
			_exit(1);
		_exit(raw_disconnect_close(fd) ? 1 : 0);
	}
}

static int run_one(const struct bench_contender *c, const struct run_spec *s,
		   struct run_result *r)
{
	int out[2], ready[2] = { -1, -1 }, status, ok, pst = -1;
	long syscalls = -1;
	pid_t pid, pub = -1;
	char topic[64];

	memset(r, 0, sizeof(*r));
	run_seq++;
	if (pipe(out))
		return -errno;
	if (s->fig == FIG_RECEIVE && pipe(ready))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		close(out[0]);
		if (ready[0] >= 0)
			close(ready[0]);
		if (s->trace) {
			tracing = 1;
			if (ptrace(PTRACE_TRACEME, 0, 0, 0))
				_exit(3);
			raise(SIGSTOP);
		}
		child_body(c, s, out[1], ready[1]);
	}
	close(out[1]);
	if (s->fig == FIG_RECEIVE) {
		/* The same topic name the child derives. */
		snprintf(topic, sizeof(topic), "bench/%s/%d/%u", c->name,
			 (int)pid, run_seq);
		close(ready[1]);
		pub = start_publisher(s, ready[0], topic);
		close(ready[0]);
	}
	if (s->trace) {
		if (waitpid(pid, &status, __WALL) != pid ||
		    !WIFSTOPPED(status))
			return -ECHILD;
		syscalls = count_syscalls(pid, pub, &pst);
	}
	ok = !bench_read_all(out[0], r, sizeof(*r));
	r->syscalls = syscalls;
	r->samples = NULL;
	if (ok && r->nsamples > 0 && r->nsamples <= MAX_SAMPLES) {
		r->samples = calloc(r->nsamples, sizeof(*r->samples));
		ok = r->samples && !bench_read_all(out[0], r->samples,
					     r->nsamples * sizeof(*r->samples));
	}
	close(out[0]);
	if (!s->trace)
		waitpid(pid, &status, 0);
	if (pub > 0) {
		if (pst == -1)
			waitpid(pub, &pst, 0);
		if (ok && !r->rc && (!WIFEXITED(pst) || WEXITSTATUS(pst))) {
			fprintf(stderr, "bench: publisher failed\n");
			r->rc = -EIO;
		}
	}
	if (!ok) {
		fprintf(stderr, "bench: %s %s: child died\n", c->name,
			figure_names[s->fig]);
		return -ECHILD;
	}
	return r->rc;
}

/* ------------------------------------------------------------- stats -- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v. */
static uint64_t pct_u64(const uint64_t *v, int n, int p)
{
	int i = (p * n + 99) / 100 - 1;

	return v[i < 0 ? 0 : i];
}

struct stat3 { double median, min, max; };

static struct stat3 stat3(double *v, int n)
{
	struct stat3 s = { 0 };

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), cmp_dbl);
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

/* ------------------------------------------------------------ output -- */

static FILE *json;
static int json_first_figure = 1;

static void json_begin_figure(const char *name, const char *params)
{
	if (!json)
		return;
	fprintf(json, "%s\n    {\"figure\": \"%s\", \"params\": {%s}, "
		"\"results\": [", json_first_figure ? "" : ",", name, params);
	json_first_figure = 0;
}

static void json_result(int first, const char *contender, const char *fmt,
			...)
{
	va_list ap;

	if (!json)
		return;
	fprintf(json, "%s\n      {\"contender\": \"%s\"", first ? "" : ",",
		contender);
	va_start(ap, fmt);
	vfprintf(json, fmt, ap);
	va_end(ap);
	fputc('}', json);
}

static void json_end_figure(void)
{
	if (json)
		fputs("\n    ]}", json);
}

static void json_array(char *buf, size_t size, const double *v, int n)
{
	size_t off = 0;
	int i;

	off += snprintf(buf + off, size - off, "[");
	for (i = 0; i < n && off < size; i++)
		off += snprintf(buf + off, size - off, "%s%.3f",
				i ? ", " : "", v[i]);
	if (off < size)
		snprintf(buf + off, size - off, "]");
}

static void print_header(const char *title, const char *cols)
{
	printf("\n%s\n  %-14s %s\n", title, "contender", cols);
}

/* ----------------------------------------------------------- figures -- */

/*
 * The run fails when AF_MQTT or the floor fails.  A library that fails a
 * figure (Paho loses sessions at keepalive 1 s) shows "failed" in the
 * table: that is a result about the library, not a broken benchmark.
 */
static int must_work(const struct bench_contender *c)
{
	return c == &bench_af_mqtt || c == &bench_raw;
}

/* What the table shows for a contender without results. */
static const char *no_result(const struct bench_contender *c,
			     enum figure fig, const struct run_result *r)
{
	if (!supported(c, fig) || r->rc == -EOPNOTSUPP)
		return "n/a";
	return "failed";
}

/*
 * Run @spec for every contender that supports it, @rounds times
 * interleaved, then once more per contender under the syscall counter
 * (@trace_n units, 0 for none).  results[round][contender].
 */
static int run_figure(struct run_spec spec, int trace_n,
		      struct run_result res[][NR_ALL], long *syscalls)
{
	int round, i, failed = 0;

	for (round = 0; round < opt.rounds; round++) {
		for (i = 0; i < nr_contenders; i++) {
			struct run_result *r = &res[round][i];

			if (!supported(contenders[i], spec.fig)) {
				r->rc = -EOPNOTSUPP;
				continue;
			}
			if (run_one(contenders[i], &spec, r) &&
			    r->rc != -EOPNOTSUPP) {
				fprintf(stderr, "bench: %s %s round %d "
					"failed: %s\n", contenders[i]->name,
					figure_names[spec.fig], round + 1,
					strerror(-r->rc));
				failed |= must_work(contenders[i]);
			}
		}
	}
	for (i = 0; i < nr_contenders; i++) {
		struct run_result t;
		struct run_spec ts = spec;

		syscalls[i] = -1;
		if (!trace_n || !supported(contenders[i], spec.fig))
			continue;
		ts.trace = 1;
		ts.n = trace_n;
		if (!run_one(contenders[i], &ts, &t) && t.syscalls >= 0)
			syscalls[i] = t.syscalls;
		else if (t.rc != -EOPNOTSUPP)
			failed |= must_work(contenders[i]);
		free(t.samples);
	}
	return failed;
}

static void free_results(struct run_result res[][NR_ALL])
{
	int round, i;

	for (round = 0; round < opt.rounds; round++)
		for (i = 0; i < nr_contenders; i++)
			free(res[round][i].samples);
}

static int figure_connect(int tls)
{
	struct run_result (*res)[NR_ALL] = calloc(opt.rounds, sizeof(*res));
	struct run_spec spec = { .fig = FIG_CONNECT, .tls = tls,
				 .n = opt.connects };
	long sc[NR_ALL];
	int i, round, failed, first = 1;
	char params[128];

	if (!res)
		return 1;
	failed = run_figure(spec, 20, res, sc);
	snprintf(params, sizeof(params), "\"cycles_per_round\": %d, "
		 "\"rounds\": %d", opt.connects, opt.rounds);
	json_begin_figure(tls ? "tls_connect" : "connect", params);
	print_header(tls ? "7. Connect latency over TLS 1.3: socket, TCP, "
			   "handshake, CONNACK, DISCONNECT, close" :
			   "1. Connect latency: socket, connect, CONNACK, "
			   "DISCONNECT, close (sequential)",
		     "      p50 us      p99 us   connects/s   p50 spread us"
		     "   syscalls");
	for (i = 0; i < nr_contenders; i++) {
		uint64_t *all = calloc(opt.rounds * opt.connects,
				       sizeof(*all));
		double p50s[64], sum = 0;
		int n = 0, nr = 0;
		struct stat3 s;
		char arr[1024];

		if (!all)
			return 1;
		for (round = 0; round < opt.rounds; round++) {
			struct run_result *r = &res[round][i];
			uint64_t *v;

			if (r->rc || !r->nsamples)
				continue;
			v = r->samples;
			memcpy(all + n, v, r->nsamples * sizeof(*v));
			n += r->nsamples;
			qsort(v, r->nsamples, sizeof(*v), cmp_u64);
			p50s[nr++] = pct_u64(v, r->nsamples, 50) / 1000.0;
		}
		if (!n) {
			printf("  %-14s %s\n", contenders[i]->name,
			       no_result(contenders[i], FIG_CONNECT, &res[0][i]));
			free(all);
			continue;
		}
		qsort(all, n, sizeof(*all), cmp_u64);
		for (round = 0; round < n; round++)
			sum += all[round];
		json_array(arr, sizeof(arr), p50s, nr);
		s = stat3(p50s, nr);
		printf("  %-14s %11.1f %11.1f %12.0f   %6.1f-%-6.1f %8.1f\n",
		       contenders[i]->name, pct_u64(all, n, 50) / 1000.0,
		       pct_u64(all, n, 99) / 1000.0, n / (sum / 1e9),
		       s.min, s.max, sc[i] < 0 ? -1.0 : sc[i] / 20.0);
		json_result(first, contenders[i]->name,
			    ", \"p50_us\": %.3f, \"p99_us\": %.3f, "
			    "\"connects_per_s\": %.1f, \"round_p50_us\": %s, "
			    "\"syscalls_per_connect\": %.2f",
			    pct_u64(all, n, 50) / 1000.0,
			    pct_u64(all, n, 99) / 1000.0, n / (sum / 1e9),
			    arr, sc[i] < 0 ? -1.0 : sc[i] / 20.0);
		first = 0;
		free(all);
	}
	json_end_figure();
	free_results(res);
	free(res);
	return failed;
}

/*
 * Figures measured as one elapsed time per run: connect_many, publish,
 * receive.  Prints units/s (median, min-max), CPU us per unit, syscalls per
 * unit.
 */
static int figure_rate(const char *id, const char *title, const char *unit,
		       struct run_spec spec, int trace_n, const char *params)
{
	struct run_result (*res)[NR_ALL] = calloc(opt.rounds, sizeof(*res));
	long sc[NR_ALL];
	int i, round, failed, first = 1;
	char cols[160];

	if (!res)
		return 1;
	failed = run_figure(spec, trace_n, res, sc);
	json_begin_figure(id, params);
	snprintf(cols, sizeof(cols), "%13s/s   spread %-17s  ms total"
		 "  CPU us/%-4s kthr us/%-4s syscalls/%s", unit, "", unit,
		 unit, unit);
	print_header(title, cols);
	for (i = 0; i < nr_contenders; i++) {
		double rate[64], ms[64], cpu[64], kt[64];
		struct stat3 sr, sm, scpu, skt;
		char a1[1024], a2[1024];
		int nr = 0;

		for (round = 0; round < opt.rounds; round++) {
			struct run_result *r = &res[round][i];

			if (r->rc || !r->elapsed_ns)
				continue;
			rate[nr] = spec.n / (r->elapsed_ns / 1e9);
			ms[nr] = r->elapsed_ns / 1e6;
			cpu[nr] = (r->user_ns + r->sys_ns) / 1e3 / spec.n;
			kt[nr] = r->kthreads_ns / 1e3 / spec.n;
			nr++;
		}
		if (!nr) {
			printf("  %-14s %s\n", contenders[i]->name,
			       no_result(contenders[i], spec.fig, &res[0][i]));
			continue;
		}
		json_array(a1, sizeof(a1), rate, nr);
		json_array(a2, sizeof(a2), cpu, nr);
		sr = stat3(rate, nr);
		sm = stat3(ms, nr);
		scpu = stat3(cpu, nr);
		skt = stat3(kt, nr);
		printf("  %-14s %15.0f   %9.0f-%-9.0f %10.1f %12.2f %12.2f "
		       "%12.2f\n", contenders[i]->name, sr.median, sr.min,
		       sr.max, sm.median, scpu.median, skt.median,
		       sc[i] < 0 ? -1.0 : (double)sc[i] / trace_n);
		json_result(first, contenders[i]->name,
			    ", \"per_s\": %.1f, \"per_s_rounds\": %s, "
			    "\"ms\": %.3f, \"cpu_us_per_unit\": %.3f, "
			    "\"cpu_us_rounds\": %s, \"kthreads_us_per_unit\": "
			    "%.3f, \"syscalls_per_unit\": %.3f",
			    sr.median, a1, sm.median, scpu.median, a2,
			    skt.median,
			    sc[i] < 0 ? -1.0 : (double)sc[i] / trace_n);
		first = 0;
	}
	json_end_figure();
	free_results(res);
	free(res);
	return failed;
}

static int figure_idle(int keepalive)
{
	struct run_result (*res)[NR_ALL] = calloc(opt.rounds, sizeof(*res));
	struct run_spec spec = { .fig = FIG_IDLE, .n = opt.idle_socks,
				 .keepalive = keepalive };
	long sc[NR_ALL];
	int i, round, failed, first = 1;
	char params[160], title[160];

	if (!res)
		return 1;
	failed = run_figure(spec, 0, res, sc);
	snprintf(params, sizeof(params), "\"sessions\": %d, "
		 "\"keepalive_s\": %d, \"seconds\": %d", opt.idle_socks,
		 keepalive, opt.idle_secs);
	json_begin_figure("idle", params);
	snprintf(title, sizeof(title), "5. Idle: %d sessions, keepalive %d s, "
		 "%d s: process wake-ups and CPU", opt.idle_socks, keepalive,
		 opt.idle_secs);
	print_header(title,
		     "   wake-ups (spread)     CPU ms (spread)   kthreads ms");
	for (i = 0; i < nr_contenders; i++) {
		double w[64], cpu[64], kt[64];
		struct stat3 sw, sc3, skt;
		char a1[1024], a2[1024];
		int nr = 0;

		for (round = 0; round < opt.rounds; round++) {
			struct run_result *r = &res[round][i];

			if (r->rc)
				continue;
			/* The sleep or wait that spans the figure is one. */
			w[nr] = r->nvcsw;
			cpu[nr] = (r->user_ns + r->sys_ns) / 1e6;
			kt[nr] = r->kthreads_ns / 1e6;
			nr++;
		}
		if (!nr) {
			printf("  %-14s %s\n", contenders[i]->name,
			       no_result(contenders[i], FIG_IDLE, &res[0][i]));
			continue;
		}
		json_array(a1, sizeof(a1), w, nr);
		json_array(a2, sizeof(a2), cpu, nr);
		sw = stat3(w, nr);
		sc3 = stat3(cpu, nr);
		skt = stat3(kt, nr);
		printf("  %-14s %8.0f (%.0f-%.0f) %12.1f (%.1f-%.1f) %10.1f\n",
		       contenders[i]->name, sw.median, sw.min, sw.max,
		       sc3.median, sc3.min, sc3.max, skt.median);
		json_result(first, contenders[i]->name,
			    ", \"wakeups\": %.0f, \"wakeups_rounds\": %s, "
			    "\"cpu_ms\": %.3f, \"cpu_ms_rounds\": %s, "
			    "\"kthreads_ms\": %.3f",
			    sw.median, a1, sc3.median, a2, skt.median);
		first = 0;
	}
	json_end_figure();
	free_results(res);
	free(res);
	return failed;
}

static int memory_cgroup_setup(void)
{
	struct stat st;
	int fd;

	if (stat(CGROUP_ROOT "/cgroup.controllers", &st) &&
	    mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL))
		return -1;
	fd = open(CGROUP_ROOT "/cgroup.subtree_control", O_WRONLY);
	if (fd < 0)
		return -1;
	if (write(fd, "+memory", 7) != 7) {
		close(fd);
		return -1;
	}
	close(fd);
	if (mkdir(CGROUP_BENCH, 0755) && errno != EEXIST)
		return -1;
	return stat(CGROUP_BENCH "/memory.stat", &st);
}

static int figure_memory(void)
{
	struct run_result (*res)[NR_ALL] = calloc(opt.rounds, sizeof(*res));
	struct run_spec spec = { .fig = FIG_MEMORY, .n = opt.mem_socks };
	long sc[NR_ALL];
	int i, round, failed, first = 1, cg;
	char params[128];

	if (!res)
		return 1;
	cg = !memory_cgroup_setup();
	if (!cg)
		fprintf(stderr, "bench: no memory cgroup, global figures "
			"only\n");
	failed = run_figure(spec, 0, res, sc);
	snprintf(params, sizeof(params), "\"sessions\": %d",
		 opt.mem_socks);
	json_begin_figure("memory", params);
	print_header("6. Kernel memory per connected idle session, bytes",
		     "  client's memcg (spread)   of it slab   slab, both ends "
		     "(spread)");
	for (i = 0; i < nr_contenders; i++) {
		double cgv[64], glob[64], slab[64];
		struct stat3 s1, s2, s3;
		int nr = 0;

		for (round = 0; round < opt.rounds; round++) {
			struct run_result *r = &res[round][i];
			long d = 0;
			int f;

			if (r->rc)
				continue;
			f = MEM_CG_CURRENT;
			if (r->mem0[f] >= 0 && r->mem1[f] >= 0)
				d = r->mem1[f] - r->mem0[f];
			cgv[nr] = (double)d / spec.n;
			slab[nr] = (double)(r->mem1[MEM_CG_SLAB] -
					    r->mem0[MEM_CG_SLAB]) / spec.n;
			glob[nr] = (double)r->slab_bytes / spec.n;
			nr++;
		}
		if (!nr) {
			printf("  %-14s %s\n", contenders[i]->name,
			       no_result(contenders[i], FIG_MEMORY, &res[0][i]));
			continue;
		}
		s1 = stat3(cgv, nr);
		s2 = stat3(glob, nr);
		s3 = stat3(slab, nr);
		printf("  %-14s %10.0f (%.0f-%.0f) %12.0f %12.0f (%.0f-%.0f)\n",
		       contenders[i]->name, cg ? s1.median : -1.0, s1.min,
		       s1.max, cg ? s3.median : -1.0, s2.median, s2.min,
		       s2.max);
		json_result(first, contenders[i]->name,
			    ", \"client_bytes\": %.0f, \"client_slab_bytes\": "
			    "%.0f, \"system_bytes\": %.0f",
			    cg ? s1.median : -1.0, cg ? s3.median : -1.0,
			    s2.median);
		first = 0;
	}
	json_end_figure();
	/* Where the bytes are: the caches that grew, first round. */
	for (i = 0; i < nr_contenders; i++) {
		struct run_result *r = &res[0][i];
		int k;

		if (r->rc || !r->slab_bytes)
			continue;
		printf("  %s, slab caches that grew (bytes per session):",
		       contenders[i]->name);
		for (k = 0; k < SLAB_TOP && r->slab_top[k][0]; k++)
			printf(" %s %.0f", r->slab_top[k],
			       (double)r->slab_top_bytes[k] / spec.n);
		printf("\n");
	}
	free_results(res);
	free(res);
	return failed;
}

static int has_figure(const char *name)
{
	size_t len = strlen(name);
	const char *p = opt.figures;

	while (p) {
		if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
			return 1;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return 0;
}

/* Figures 3 and 4, and 8 and 9 over TLS. */
static int run_rates(int tls)
{
	static const size_t lens[] = { 16, BENCH_MAX_PAYLOAD };
	const char *pre = tls ? "tls_" : "";
	const char *over = tls ? " over TLS 1.3" : "";
	char params[128], title[160], id[40], name[16];
	int failed = 0, qos, l;

	snprintf(name, sizeof(name), "%spublish", pre);
	for (qos = 0; qos <= 1 && has_figure(name); qos++) {
		for (l = 0; l < 2; l++) {
			struct run_spec s = { .fig = FIG_PUBLISH, .tls = tls,
					      .qos = qos, .len = lens[l],
					      .n = opt.pub_msgs };

			snprintf(id, sizeof(id), "%spublish_qos%d_%zu", pre,
				 qos, lens[l]);
			snprintf(params, sizeof(params), "\"qos\": %d, "
				 "\"payload\": %zu, \"messages\": %d", qos,
				 lens[l], opt.pub_msgs);
			snprintf(title, sizeof(title), "%d. Publish QoS %d%s, "
				 "%zu-byte payload, %d messages", tls ? 8 : 3,
				 qos, over, lens[l], opt.pub_msgs);
			failed |= figure_rate(id, title, "msg", s,
					      opt.trace_msgs, params);
		}
	}
	snprintf(name, sizeof(name), "%sreceive", pre);
	/* Over TLS the issue asks for QoS 1, what a gateway subscribes at. */
	for (qos = tls; qos <= 1 && has_figure(name); qos++) {
		struct run_spec s = { .fig = FIG_RECEIVE, .tls = tls,
				      .qos = qos, .len = 16,
				      .n = opt.recv_msgs };

		snprintf(id, sizeof(id), "%sreceive_qos%d_16", pre, qos);
		snprintf(params, sizeof(params), "\"qos\": %d, "
			 "\"payload\": 16, \"messages\": %d", qos,
			 opt.recv_msgs);
		snprintf(title, sizeof(title), "%d. Receive QoS %d%s, 16-byte "
			 "payload, %d messages fanned out by the broker",
			 tls ? 9 : 4, qos, over, opt.recv_msgs);
		failed |= figure_rate(id, title, "msg", s, opt.trace_msgs,
				      params);
	}
	return failed;
}

static int run_figures(void)
{
	char params[128], title[128];
	int failed = 0;

	if (has_figure("connect"))
		failed |= figure_connect(0);
	if (has_figure("connect_many")) {
		struct run_spec s = { .fig = FIG_CONNECT_MANY, .n = opt.many };

		snprintf(params, sizeof(params), "\"sessions\": %d",
			 opt.many);
		snprintf(title, sizeof(title), "2. %d connects at once, one "
			 "epoll loop: until all accepted", opt.many);
		failed |= figure_rate("connect_many", title, "conn", s,
				      opt.many, params);
	}
	failed |= run_rates(0);
	if (has_figure("idle")) {
		const char *k = opt.idle_keepalives;

		while (k && *k) {
			failed |= figure_idle(atoi(k));
			k = strchr(k, ',');
			if (k)
				k++;
		}
	}
	if (has_figure("memory"))
		failed |= figure_memory();
	if (has_figure("tls_connect"))
		failed |= figure_connect(1);
	failed |= run_rates(1);
	return failed;
}

/* -------------------------------------------------------------- main -- */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [options]\n"
		"  --broker ADDR:PORT    broker (default 127.0.0.1:1883)\n"
		"  --tls-broker ADDR:PORT  its TLS listener (127.0.0.1:8883)\n"
		"  --tls-ca FILE         its CA ($MQTT_TLS_DIR/ca.crt)\n"
		"  --rounds N            interleaved rounds (5)\n"
		"  --figures LIST        connect,connect_many,publish,"
		"receive,idle,memory,\n"
		"                        tls_connect,tls_publish,tls_receive\n"
		"  --contenders LIST     af_mqtt,raw,libmosquitto,paho\n"
		"  --connects N --many N --pub-msgs N --recv-msgs N\n"
		"  --trace-msgs N --idle-socks N --idle-secs N "
		"--mem-socks N\n"
		"  --idle-keepalive LIST  seconds, one idle figure each "
		"(1,5)\n"
		"  --quick               small sizes: a smoke test\n"
		"  --clock TEXT          what the clock counts, for the "
		"report\n"
		"  --json FILE           write every result as JSON\n",
		prog);
	exit(2);
}

static int select_contenders(void)
{
	char *list = strdup(opt.contenders), *tok, *save;
	int i;

	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NR_ALL; i++)
			if (!strcmp(tok, all_contenders[i]->name))
				break;
		if (i == NR_ALL) {
			fprintf(stderr, "bench: unknown contender %s\n", tok);
			return -1;
		}
		contenders[nr_contenders++] = all_contenders[i];
	}
	free(list);
	return nr_contenders ? 0 : -1;
}

static int parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || colon - s >= (int)sizeof(host))
		return -1;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static int parse_broker(const char *s)
{
	return parse_addr(s, &opt.broker);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "broker", 1, 0, 'b' }, { "rounds", 1, 0, 'r' },
		{ "figures", 1, 0, 'f' }, { "contenders", 1, 0, 'c' },
		{ "connects", 1, 0, 'C' }, { "many", 1, 0, 'm' },
		{ "pub-msgs", 1, 0, 'p' }, { "recv-msgs", 1, 0, 'R' },
		{ "trace-msgs", 1, 0, 't' }, { "idle-socks", 1, 0, 'i' },
		{ "idle-secs", 1, 0, 'I' }, { "mem-socks", 1, 0, 'M' },
		{ "idle-keepalive", 1, 0, 'K' },
		{ "quick", 0, 0, 'q' }, { "json", 1, 0, 'j' },
		{ "clock", 1, 0, 'k' }, { "tls-broker", 1, 0, 'T' },
		{ "tls-ca", 1, 0, 'A' }, { 0 },
	};
	struct rlimit rl = { 65536, 65536 };
	struct utsname u;
	int o, failed;

	static char ca[256];

	parse_broker("127.0.0.1:1883");
	parse_addr("127.0.0.1:8883", &opt.tls_broker);
	snprintf(ca, sizeof(ca), "%s/ca.crt",
		 getenv("MQTT_TLS_DIR") ? getenv("MQTT_TLS_DIR") : ".");
	opt.tls_ca = ca;
	while ((o = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (o) {
		case 'b':
			if (parse_broker(optarg))
				usage(argv[0]);
			break;
		case 'r':
			opt.rounds = atoi(optarg);
			break;
		case 'f':
			opt.figures = optarg;
			break;
		case 'c':
			opt.contenders = optarg;
			break;
		case 'C':
			opt.connects = atoi(optarg);
			break;
		case 'm':
			opt.many = atoi(optarg);
			break;
		case 'p':
			opt.pub_msgs = atoi(optarg);
			break;
		case 'R':
			opt.recv_msgs = atoi(optarg);
			break;
		case 't':
			opt.trace_msgs = atoi(optarg);
			break;
		case 'i':
			opt.idle_socks = atoi(optarg);
			break;
		case 'I':
			opt.idle_secs = atoi(optarg);
			break;
		case 'M':
			opt.mem_socks = atoi(optarg);
			break;
		case 'K':
			opt.idle_keepalives = optarg;
			break;
		case 'j':
			opt.json = optarg;
			break;
		case 'k':
			opt.clock = optarg;
			break;
		case 'T':
			if (parse_addr(optarg, &opt.tls_broker))
				usage(argv[0]);
			break;
		case 'A':
			opt.tls_ca = optarg;
			break;
		case 'q':
			opt.rounds = 2;
			opt.connects = 20;
			opt.many = 50;
			opt.pub_msgs = 500;
			opt.recv_msgs = 500;
			opt.trace_msgs = 100;
			opt.idle_socks = 10;
			opt.idle_secs = 3;
			opt.mem_socks = 20;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (opt.rounds < 1 || opt.rounds > 64 || opt.connects < 1 ||
	    opt.connects * opt.rounds > MAX_SAMPLES || opt.many < 1 ||
	    opt.pub_msgs < 1 || opt.recv_msgs < 1 || opt.trace_msgs < 1 ||
	    opt.idle_socks < 1 || opt.idle_secs < 1 || opt.mem_socks < 1 ||
	    select_contenders())
		usage(argv[0]);
	if (setrlimit(RLIMIT_NOFILE, &rl))
		perror("bench: RLIMIT_NOFILE");
	signal(SIGPIPE, SIG_IGN);
	uname(&u);

	if (opt.json) {
		json = fopen(opt.json, "w");
		if (!json) {
			perror(opt.json);
			return 2;
		}
		fprintf(json, "{\n  \"kernel\": \"%s %s\",\n  \"machine\": "
			"\"%s\",\n  \"clock\": \"%s\",\n  \"rounds\": %d,\n"
			"  \"figures\": [", u.sysname, u.release, u.machine,
			opt.clock ? opt.clock : "CLOCK_MONOTONIC", opt.rounds);
	}
	printf("mqtt_bench: kernel %s, %s; %d rounds, contenders "
	       "interleaved; clock: %s\n", u.release, u.machine, opt.rounds,
	       opt.clock ? opt.clock : "CLOCK_MONOTONIC");
	printf("Medians over rounds; spread = min-max of the rounds; "
	       "syscalls counted in a separate run.\n");
	failed = run_figures();
	if (json) {
		fputs("\n  ]\n}\n", json);
		fclose(json);
	}
	printf("\nmqtt_bench: %s\n", failed ? "some runs FAILED" : "done");
	return failed;
}
