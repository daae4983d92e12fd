// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT against a real broker: the mosquitto the VM runner started
 * (the MQTT_BROKER_* variables say where).  Messages go both ways between
 * an AF_MQTT socket and mosquitto's own clients: mosquitto_pub and
 * mosquitto_sub run as child processes, libmosquitto runs in this
 * process.  Covered: QoS 0, 1 and 2 with payloads of 0 B, 1 B, 64 KiB
 * and 1 MiB, the longest topic, retained messages, the will (published
 * on an abortive end, not on a clean one) and 2000 QoS 1 messages in a
 * row each way.
 *
 * Every wait is bounded: children run with mosquitto_sub -W and are
 * killed when the test stops waiting for them.  Without a broker every
 * test skips when run by hand and fails under the VM runner
 * (require_broker() in mqtt_test.h).
 *
 * Conformance ids [MQTT-x.y.z-n] refer to OASIS MQTT 3.1.1.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/mqtt.h>

#include "mqtt_test.h"

/* How long a test waits for a message to come through the broker. */
#define MSG_TIMEOUT_MS		10000
/* mosquitto_sub -W: the child gives up on its own after this. */
#define CHILD_TIMEOUT_S		20
/* MQTT_ACK_TIMEOUT of sockets under test. */
#define BROKER_ACK_TIMEOUT_MS	10000
/* Messages in a row for the ordering tests. */
#define RUN_LEN			2000

static const char *broker_host = "127.0.0.1";

static int broker_port(void)
{
	return env_port("MQTT_BROKER_PORT", 1883);
}

static char *port_str(void)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%d", broker_port());
	return buf;
}

/* A topic or client id no other test (or run) uses. */
static void unique_name(char *buf, size_t len, const char *what)
{
	static int seq;

	snprintf(buf, len, "ksft/%s/%d-%d", what, getpid(), ++seq);
}

/* Payload byte i of every message: a pattern with every byte value. */
static void fill_bytes(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (i * 7 + i / 251) & 0xff;
}

/* ---------------------------------------------------------------------- */
/* AF_MQTT sockets on the broker                                            */
/* ---------------------------------------------------------------------- */

/*
 * A socket connected to the anonymous listener (keepalive 60), with a
 * QoS 1 will if will_topic is set: the fd, or -errno.  Plain system calls
 * only: forked children of the tests use it too.
 */
static int kconnect_raw(const char *id, const char *will_topic,
			const char *will_msg)
{
	struct sockaddr_in addr = broker_in("MQTT_BROKER_PORT", 1883);
	int fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
	int timeout = TEST_CONNECT_TIMEOUT_MS, ack = BROKER_ACK_TIMEOUT_MS;
	int qos = 1, err;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_MQTT, MQTT_CONNECT_TIMEOUT, &timeout,
		       sizeof(int)) ||
	    setsockopt(fd, SOL_MQTT, MQTT_ACK_TIMEOUT, &ack, sizeof(int)) ||
	    setsockopt(fd, SOL_MQTT, MQTT_CLIENT_ID, id, strlen(id)))
		goto fail;
	if (will_topic &&
	    (setsockopt(fd, SOL_MQTT, MQTT_WILL_TOPIC, will_topic,
			strlen(will_topic)) ||
	     setsockopt(fd, SOL_MQTT, MQTT_WILL_MESSAGE, will_msg,
			strlen(will_msg)) ||
	     setsockopt(fd, SOL_MQTT, MQTT_WILL_QOS, &qos, sizeof(int))))
		goto fail;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	return -err;
}

static int kconnect(struct __test_metadata *_metadata, const char *id,
		    const char *will_topic, const char *will_msg)
{
	int fd = kconnect_raw(id, will_topic, will_msg);

	ASSERT_LE(0, fd) TH_LOG("connect to the broker on port %d: %s",
				broker_port(), strerror(-fd));
	return fd;
}

/* Subscribe; the broker grants what was asked. */
static void ksubscribe(struct __test_metadata *_metadata, int fd,
		       const void *filter, size_t len, int qos)
{
	static struct sub_buf b;
	socklen_t optlen = sub_fill(&b, qos, filter, len);

	ASSERT_EQ(0, setsockopt(fd, SOL_MQTT, MQTT_SUBSCRIBE, &b, optlen))
		TH_LOG("subscribe: %s", strerror(errno));
	ASSERT_EQ(qos, b.sub.qos);
}

/* Send and, for QoS 1 and 2, wait until the broker acknowledged. */
static void kpublish(struct __test_metadata *_metadata, int fd,
		     const char *topic, int qos, int retain,
		     const void *buf, size_t len)
{
	struct pub o = { .topic = topic, .topic_len = strlen(topic),
			 .qos = qos, .retain = retain };
	ssize_t ret = mqtt_send(fd, &o, buf, len, MSG_NOSIGNAL);

	ASSERT_EQ((ssize_t)len, ret) TH_LOG("send: %s", strerror(-ret));
	wait_inflight(_metadata, fd, 0);
}

/* Room for payloads of up to 1 MiB in one PUBLISH. */
static void big_sndbuf(struct __test_metadata *_metadata, int fd)
{
	int val = 4 << 20;

	ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &val,
				sizeof(val)));
}

/* ---------------------------------------------------------------------- */
/* Child processes: mosquitto_pub and mosquitto_sub                        */
/* ---------------------------------------------------------------------- */

struct child {
	pid_t pid;
	int out;		/* its stdout and stderr */
	char *buf;		/* everything it printed, NUL-terminated */
	size_t len, cap;
};

static void child_start(struct __test_metadata *_metadata, struct child *c,
			char *const argv[])
{
	int pfd[2], null;

	memset(c, 0, sizeof(*c));
	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
	c->pid = fork();
	ASSERT_LE(0, c->pid);
	if (c->pid == 0) {
		null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(pfd[1], 1) < 0 ||
		    dup2(pfd[1], 2) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	c->out = pfd[0];
	c->cap = 4096;
	c->buf = malloc(c->cap);
	ASSERT_NE(NULL, c->buf);
	c->buf[0] = '\0';
}

/* Read what is there, waiting at most ms; false at end of output. */
static bool child_read(struct child *c, int ms)
{
	ssize_t n;

	if (!wait_readable(c->out, ms))
		return true;
	if (c->cap - c->len < 65536) {
		char *more = realloc(c->buf, c->cap * 2 + 65536);

		if (!more)
			return false;
		c->buf = more;
		c->cap = c->cap * 2 + 65536;
	}
	n = read(c->out, c->buf + c->len, c->cap - c->len - 1);
	if (n <= 0)
		return false;
	c->len += n;
	c->buf[c->len] = '\0';
	return true;
}

/* Wait until the child printed needle. */
static void child_wait_for(struct __test_metadata *_metadata,
			   struct child *c, const char *needle)
{
	int64_t deadline = now_ms() + MSG_TIMEOUT_MS;

	while (!strstr(c->buf, needle)) {
		ASSERT_TRUE(now_ms() < deadline && child_read(c, 100))
			TH_LOG("child never printed \"%s\"; output: %.300s",
			       needle, c->buf);
	}
}

/*
 * Collect the rest of the output and the exit status; a child still
 * running at the deadline is killed and reported as -1.
 */
static int child_finish(struct child *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int status = -1;

	while (now_ms() < deadline && child_read(c, 100))
		;
	/* Its output ended; the exit itself may take a moment more. */
	while (waitpid(c->pid, &status, WNOHANG) == 0) {
		if (now_ms() >= deadline) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &status, 0);
			status = -1;
			break;
		}
		usleep(10000);
	}
	close(c->out);
	return status;
}

static void child_free(struct child *c)
{
	free(c->buf);
	c->buf = NULL;
}

/*
 * mosquitto_sub for count messages on topic at QoS qos.  Each message is
 * printed as "MSG qos retain length hex-payload"; -d prints when the
 * SUBACK came, so the test publishes only after "Subscribed".  Its stdout
 * is a pipe, which stdio buffers in blocks: stdbuf makes it line by line.
 */
static void sub_start(struct __test_metadata *_metadata, struct child *c,
		      const char *topic, int qos, int count)
{
	char qos_s[4], count_s[16], wait_s[16];
	char *const argv[] = {
		"stdbuf", "-oL",
		"mosquitto_sub", "-h", (char *)broker_host, "-p", port_str(),
		"-t", (char *)topic, "-q", qos_s, "-C", count_s,
		"-W", wait_s, "-d", "-F", "MSG %q %r %l %x", NULL,
	};

	snprintf(qos_s, sizeof(qos_s), "%d", qos);
	snprintf(count_s, sizeof(count_s), "%d", count);
	snprintf(wait_s, sizeof(wait_s), "%d", CHILD_TIMEOUT_S);
	child_start(_metadata, c, argv);
	child_wait_for(_metadata, c, "Subscribed (mid");
}

/* The next "MSG ..." line of mosquitto_sub's output after *pos. */
static bool sub_next_msg(const struct child *c, size_t *pos, int *qos,
			 int *retain, size_t *len, const char **hex)
{
	const char *p = c->buf + *pos, *line;

	line = strstr(p, "MSG ");
	while (line && line != c->buf && line[-1] != '\n')
		line = strstr(line + 1, "MSG ");
	if (!line)
		return false;
	if (sscanf(line, "MSG %d %d %zu", qos, retain, len) != 3)
		return false;
	*hex = strchr(strchr(strchr(line + 4, ' ') + 1, ' ') + 1, ' ');
	if (!*hex)
		return false;
	(*hex)++;
	p = strchr(*hex, '\n');
	*pos = p ? (size_t)(p - c->buf) : c->len;
	return true;
}

/* hex (lower case, as mosquitto_sub %x prints) equals buf. */
static bool hex_equals(const char *hex, const uint8_t *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++)
		if (hex[2 * i] != digits[buf[i] >> 4] ||
		    hex[2 * i + 1] != digits[buf[i] & 15])
			return false;
	return hex[2 * len] == '\n' || hex[2 * len] == '\0';
}

/* mosquitto_pub of one message; payload from a file (any bytes). */
static void pub_run(struct __test_metadata *_metadata, const char *topic,
		    int qos, bool retain, const void *payload, size_t len)
{
	char path[] = "/tmp/ksft-mqtt-payload-XXXXXX";
	char qos_s[4];
	char *argv[16];
	struct child c;
	int fd, i = 0, status;

	snprintf(qos_s, sizeof(qos_s), "%d", qos);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)len, write(fd, payload, len));
	close(fd);
	argv[i++] = "mosquitto_pub";
	argv[i++] = "-h";
	argv[i++] = (char *)broker_host;
	argv[i++] = "-p";
	argv[i++] = port_str();
	argv[i++] = "-t";
	argv[i++] = (char *)topic;
	argv[i++] = "-q";
	argv[i++] = qos_s;
	if (retain)
		argv[i++] = "-r";
	if (len) {
		argv[i++] = "-f";
		argv[i++] = path;
	} else {
		argv[i++] = "-n";	/* -f of an empty file is refused */
	}
	argv[i] = NULL;
	child_start(_metadata, &c, argv);
	status = child_finish(&c, MSG_TIMEOUT_MS);
	unlink(path);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("mosquitto_pub failed (%#x): %.300s", status, c.buf);
	child_free(&c);
}

/* ---------------------------------------------------------------------- */
/* libmosquitto in this process                                            */
/* ---------------------------------------------------------------------- */

struct lib_msg {
	char *topic;
	uint8_t *payload;
	size_t len;
	int qos;
	bool retain;
};

struct lib {
	struct mosquitto *m;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Protected by lock. */
	int connected;		/* CONNACKs accepted */
	int subscribed;		/* SUBACKs seen */
	int published;		/* PUBLISH flows completed */
	struct lib_msg *msgs;
	int nmsgs, cap;
};

static void lib_on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct lib *l = obj;

	(void)m;
	pthread_mutex_lock(&l->lock);
	l->connected += rc == 0;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static void lib_on_subscribe(struct mosquitto *m, void *obj, int mid,
			     int count, const int *granted)
{
	struct lib *l = obj;

	(void)m;
	(void)mid;
	(void)count;
	(void)granted;
	pthread_mutex_lock(&l->lock);
	l->subscribed++;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static void lib_on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct lib *l = obj;

	(void)m;
	(void)mid;
	pthread_mutex_lock(&l->lock);
	l->published++;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static void lib_on_message(struct mosquitto *m, void *obj,
			   const struct mosquitto_message *msg)
{
	struct lib *l = obj;
	struct lib_msg *lm;

	(void)m;
	pthread_mutex_lock(&l->lock);
	if (l->nmsgs == l->cap) {
		int cap = l->cap ? 2 * l->cap : 64;
		struct lib_msg *more = realloc(l->msgs, cap * sizeof(*more));

		if (!more)
			goto out;
		l->msgs = more;
		l->cap = cap;
	}
	lm = &l->msgs[l->nmsgs];
	lm->topic = strdup(msg->topic);
	lm->payload = malloc(msg->payloadlen + 1);
	if (!lm->topic || !lm->payload)
		goto out;
	memcpy(lm->payload, msg->payload, msg->payloadlen);
	lm->len = msg->payloadlen;
	lm->qos = msg->qos;
	lm->retain = msg->retain;
	l->nmsgs++;
	pthread_cond_broadcast(&l->cond);
out:
	pthread_mutex_unlock(&l->lock);
}

/* Wait until *counter >= want; false on timeout. */
static bool lib_wait(struct lib *l, const int *counter, int want, int ms)
{
	struct timespec until;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->lock);
	while (*counter < want && ok)
		ok = !pthread_cond_timedwait(&l->cond, &l->lock, &until);
	ok = *counter >= want;
	pthread_mutex_unlock(&l->lock);
	return ok;
}

static void lib_connect(struct __test_metadata *_metadata, struct lib *l,
			const char *id)
{
	int rc;

	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->m = mosquitto_new(id, true, l);
	ASSERT_NE(NULL, l->m);
	mosquitto_connect_callback_set(l->m, lib_on_connect);
	mosquitto_subscribe_callback_set(l->m, lib_on_subscribe);
	mosquitto_publish_callback_set(l->m, lib_on_publish);
	mosquitto_message_callback_set(l->m, lib_on_message);
	rc = mosquitto_connect(l->m, broker_host, broker_port(), 60);
	ASSERT_EQ(MOSQ_ERR_SUCCESS, rc) TH_LOG("mosquitto_connect: %s",
					       mosquitto_strerror(rc));
	ASSERT_EQ(MOSQ_ERR_SUCCESS, mosquitto_loop_start(l->m));
	ASSERT_TRUE(lib_wait(l, &l->connected, 1, MSG_TIMEOUT_MS))
		TH_LOG("libmosquitto: no CONNACK");
}

static void lib_subscribe(struct __test_metadata *_metadata, struct lib *l,
			  const char *topic, int qos)
{
	int want = l->subscribed + 1;

	ASSERT_EQ(MOSQ_ERR_SUCCESS, mosquitto_subscribe(l->m, NULL, topic,
							qos));
	ASSERT_TRUE(lib_wait(l, &l->subscribed, want, MSG_TIMEOUT_MS))
		TH_LOG("libmosquitto: no SUBACK");
}

static void lib_publish(struct __test_metadata *_metadata, struct lib *l,
			const char *topic, const void *buf, size_t len,
			int qos)
{
	int rc = mosquitto_publish(l->m, NULL, topic, len, buf, qos, false);

	ASSERT_EQ(MOSQ_ERR_SUCCESS, rc) TH_LOG("mosquitto_publish: %s",
					       mosquitto_strerror(rc));
}

static void lib_wait_msgs(struct __test_metadata *_metadata, struct lib *l,
			  int n)
{
	ASSERT_TRUE(lib_wait(l, &l->nmsgs, n, MSG_TIMEOUT_MS))
		TH_LOG("libmosquitto got %d of %d messages", l->nmsgs, n);
}

static void lib_free(struct lib *l)
{
	int i;

	if (!l->m)
		return;
	mosquitto_disconnect(l->m);
	mosquitto_loop_stop(l->m, false);
	mosquitto_destroy(l->m);
	l->m = NULL;
	for (i = 0; i < l->nmsgs; i++) {
		free(l->msgs[i].topic);
		free(l->msgs[i].payload);
	}
	free(l->msgs);
}

static void __attribute__((constructor)) lib_init(void)
{
	mosquitto_lib_init();
}

/* ---------------------------------------------------------------------- */
/* One message each way: QoS 0, 1, 2 x 0 B, 1 B, 64 KiB, 1 MiB              */
/* ---------------------------------------------------------------------- */

FIXTURE(relay) {
	int fd;
	char id[64];
	char topic[96];
	uint8_t *payload;
	struct lib lib;
};

FIXTURE_VARIANT(relay) {
	int qos;
	size_t len;
};

#define RELAY(name, q, l) \
	FIXTURE_VARIANT_ADD(relay, name) { .qos = (q), .len = (l) }

RELAY(qos0_0b, 0, 0);
RELAY(qos0_1b, 0, 1);
RELAY(qos0_64k, 0, 64 << 10);
RELAY(qos0_1m, 0, 1 << 20);
RELAY(qos1_0b, 1, 0);
RELAY(qos1_1b, 1, 1);
RELAY(qos1_64k, 1, 64 << 10);
RELAY(qos1_1m, 1, 1 << 20);
RELAY(qos2_0b, 2, 0);
RELAY(qos2_1b, 2, 1);
RELAY(qos2_64k, 2, 64 << 10);
RELAY(qos2_1m, 2, 1 << 20);

FIXTURE_SETUP(relay)
{
	require_broker(_metadata, "MQTT_BROKER_PORT", 1883);
	unique_name(self->id, sizeof(self->id), "k");
	unique_name(self->topic, sizeof(self->topic), "relay");
	self->payload = malloc(variant->len + 1);
	ASSERT_NE(NULL, self->payload);
	fill_bytes(self->payload, variant->len);
	self->fd = kconnect(_metadata, self->id, NULL, NULL);
	big_sndbuf(_metadata, self->fd);
}

FIXTURE_TEARDOWN(relay)
{
	close(self->fd);
	lib_free(&self->lib);
	free(self->payload);
}

/* The AF_MQTT socket receives one message with this QoS and payload. */
static void krecv_expect(struct __test_metadata *_metadata, int fd,
			 const char *topic, int qos, int retain,
			 const uint8_t *payload, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	static struct rmsg m;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(POLLIN, poll_fd(_metadata, fd, POLLIN, MSG_TIMEOUT_MS) &
			  (POLLIN | POLLERR))
		TH_LOG("nothing arrived");
	mqtt_recv(&m, fd, buf, len + 1, MSG_DONTWAIT);
	expect_msg(_metadata, &m, buf, topic, payload, len, qos, retain, 0);
	free(buf);
}

/* AF_MQTT publishes, mosquitto_sub receives the same bytes and QoS. */
TEST_F(relay, kernel_to_mosquitto_sub)
{
	size_t pos = 0, len;
	const char *hex;
	int qos, retain, status;
	struct child sub;

	sub_start(_metadata, &sub, self->topic, variant->qos, 1);
	kpublish(_metadata, self->fd, self->topic, variant->qos, 0,
		 self->payload, variant->len);
	status = child_finish(&sub, MSG_TIMEOUT_MS);
	ASSERT_TRUE(sub_next_msg(&sub, &pos, &qos, &retain, &len, &hex))
		TH_LOG("mosquitto_sub (status %#x): %.300s", status, sub.buf);
	EXPECT_EQ(variant->qos, qos);
	EXPECT_EQ(0, retain);
	ASSERT_EQ(variant->len, len);
	EXPECT_TRUE(hex_equals(hex, self->payload, len));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	child_free(&sub);
}

/* mosquitto_pub publishes, the AF_MQTT socket receives it. */
TEST_F(relay, mosquitto_pub_to_kernel)
{
	ksubscribe(_metadata, self->fd, self->topic, strlen(self->topic),
		   variant->qos);
	pub_run(_metadata, self->topic, variant->qos, false, self->payload,
		variant->len);
	krecv_expect(_metadata, self->fd, self->topic, variant->qos, 0,
		     self->payload, variant->len);
}

TEST_F(relay, kernel_to_libmosquitto)
{
	struct lib_msg *lm;
	char id[64];

	unique_name(id, sizeof(id), "lib");
	lib_connect(_metadata, &self->lib, id);
	lib_subscribe(_metadata, &self->lib, self->topic, variant->qos);
	kpublish(_metadata, self->fd, self->topic, variant->qos, 0,
		 self->payload, variant->len);
	lib_wait_msgs(_metadata, &self->lib, 1);
	lm = &self->lib.msgs[0];
	EXPECT_STREQ(self->topic, lm->topic);
	EXPECT_EQ(variant->qos, lm->qos);
	EXPECT_FALSE(lm->retain);
	ASSERT_EQ(variant->len, lm->len);
	EXPECT_EQ(0, memcmp(lm->payload, self->payload, lm->len));
}

TEST_F(relay, libmosquitto_to_kernel)
{
	char id[64];

	unique_name(id, sizeof(id), "lib");
	lib_connect(_metadata, &self->lib, id);
	ksubscribe(_metadata, self->fd, self->topic, strlen(self->topic),
		   variant->qos);
	lib_publish(_metadata, &self->lib, self->topic, self->payload,
		    variant->len, variant->qos);
	krecv_expect(_metadata, self->fd, self->topic, variant->qos, 0,
		     self->payload, variant->len);
}

/* ---------------------------------------------------------------------- */
/* The broker fixture: one connected AF_MQTT socket                        */
/* ---------------------------------------------------------------------- */

FIXTURE(broker) {
	int fd;
	char id[64];
	char topic[96];
	struct lib lib;
};

FIXTURE_SETUP(broker)
{
	require_broker(_metadata, "MQTT_BROKER_PORT", 1883);
	unique_name(self->id, sizeof(self->id), "k");
	unique_name(self->topic, sizeof(self->topic), "t");
	self->fd = kconnect(_metadata, self->id, NULL, NULL);
}

FIXTURE_TEARDOWN(broker)
{
	close(self->fd);
	lib_free(&self->lib);
}

static long thread_nvcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/*
 * An idle session costs its process nothing.  With keepalive 1 s the
 * kernel trades PINGREQ for PINGRESP with mosquitto three times while
 * the thread sleeps in recv() and then in poll(), and must not wake it.
 * A wait is one voluntary switch; one more is allowed for meeting the
 * keepalive work on the socket lock as the wait ends.  A wake-up per
 * keepalive would add three.  The session being alive afterwards shows
 * the PINGREQs went out: mosquitto drops a client silent for 1.5
 * keepalives [MQTT-3.1.2-24].
 */
TEST(idle_session_wakes_nobody)
{
	struct sockaddr_in addr = broker_in("MQTT_BROKER_PORT", 1883);
	struct timeval tv = { .tv_sec = 3, .tv_usec = 500000 };
	struct pollfd pfd;
	char id[64], buf[16];
	long before;
	int fd;

	require_broker(_metadata, "MQTT_BROKER_PORT", 1883);
	unique_name(id, sizeof(id), "idle");
	fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	set_str(_metadata, fd, MQTT_CLIENT_ID, id, strlen(id));
	set_int(_metadata, fd, MQTT_KEEPALIVE, 1);
	ASSERT_EQ(0, connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		TH_LOG("connect: %s", strerror(errno));
	ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));

	before = thread_nvcsw();
	ASSERT_EQ(-1, recv(fd, buf, sizeof(buf), 0));
	ASSERT_EQ(EAGAIN, errno);
	EXPECT_GE(2, thread_nvcsw() - before) TH_LOG("woken in recv()");

	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	before = thread_nvcsw();
	ASSERT_EQ(0, poll(&pfd, 1, 3500));
	EXPECT_GE(2, thread_nvcsw() - before) TH_LOG("woken in poll()");

	kpublish(_metadata, fd, id, 1, 0, "alive", 5);
	close(fd);
}

/* A 65,535-byte topic [MQTT-1.5.3] through the broker, both ways. */
TEST_F(broker, longest_topic_both_ways)
{
	char *topic = malloc(MQTT_MAX_FIELD_LEN + 1);
	static struct rmsg m;
	struct lib_msg *lm;
	uint8_t buf[16];
	char id[64];

	ASSERT_NE(NULL, topic);
	fill_pattern((uint8_t *)topic, MQTT_MAX_FIELD_LEN);
	topic[MQTT_MAX_FIELD_LEN] = '\0';
	unique_name(id, sizeof(id), "lib");
	lib_connect(_metadata, &self->lib, id);
	lib_subscribe(_metadata, &self->lib, topic, 1);
	ksubscribe(_metadata, self->fd, topic, MQTT_MAX_FIELD_LEN, 1);

	set_str(_metadata, self->fd, MQTT_PUBLISH_TOPIC, topic,
		MQTT_MAX_FIELD_LEN);
	set_int(_metadata, self->fd, MQTT_PUBLISH_QOS, 1);
	ASSERT_EQ(4, write(self->fd, "kern", 4));
	lib_wait_msgs(_metadata, &self->lib, 1);
	lm = &self->lib.msgs[0];
	EXPECT_EQ(MQTT_MAX_FIELD_LEN, (int)strlen(lm->topic));
	EXPECT_STREQ(topic, lm->topic);
	EXPECT_EQ(4, (int)lm->len);

	/* Our own message comes back too: we subscribed to the topic. */
	ASSERT_EQ(POLLIN, poll_fd(_metadata, self->fd, POLLIN,
				  MSG_TIMEOUT_MS));
	mqtt_recv(&m, self->fd, buf, sizeof(buf), 0);
	ASSERT_EQ(4, m.ret);
	lib_publish(_metadata, &self->lib, topic, "lib", 3, 1);
	ASSERT_EQ(POLLIN, poll_fd(_metadata, self->fd, POLLIN,
				  MSG_TIMEOUT_MS));
	mqtt_recv(&m, self->fd, buf, sizeof(buf), 0);
	ASSERT_EQ(3, m.ret);
	EXPECT_EQ(0, memcmp(buf, "lib", 3));
	ASSERT_EQ(MQTT_MAX_FIELD_LEN, m.topic_len);
	EXPECT_EQ(0, memcmp(m.topic, topic, MQTT_MAX_FIELD_LEN));
	free(topic);
}

/* Clear a retained message: an empty retained PUBLISH [MQTT-3.3.1-10]. */
static void clear_retained(struct __test_metadata *_metadata, int fd,
			   const char *topic)
{
	kpublish(_metadata, fd, topic, 1, 1, "", 0);
}

/*
 * A retained message from the AF_MQTT socket reaches a later subscriber
 * with RETAIN 1 [MQTT-3.3.1-8]; here mosquitto_sub.
 */
TEST_F(broker, retained_from_kernel_to_new_mosquitto_sub)
{
	size_t pos = 0, len;
	const char *hex;
	int qos, retain, status;
	struct child sub;

	kpublish(_metadata, self->fd, self->topic, 1, 1, "kept", 4);
	sub_start(_metadata, &sub, self->topic, 1, 1);
	status = child_finish(&sub, MSG_TIMEOUT_MS);
	clear_retained(_metadata, self->fd, self->topic);
	ASSERT_TRUE(sub_next_msg(&sub, &pos, &qos, &retain, &len, &hex))
		TH_LOG("mosquitto_sub (status %#x): %.300s", status, sub.buf);
	EXPECT_EQ(1, qos);
	EXPECT_EQ(1, retain);
	ASSERT_EQ(4, (int)len);
	EXPECT_TRUE(hex_equals(hex, (const uint8_t *)"kept", 4));
	child_free(&sub);
}

/* ... and reaches a later AF_MQTT subscriber with the RETAIN cmsg 1. */
TEST_F(broker, retained_from_mosquitto_pub_to_new_kernel_subscriber)
{
	pub_run(_metadata, self->topic, 1, true, "kept", 4);
	ksubscribe(_metadata, self->fd, self->topic, strlen(self->topic), 2);
	krecv_expect(_metadata, self->fd, self->topic, 1, 1,
		     (const uint8_t *)"kept", 4);
	clear_retained(_metadata, self->fd, self->topic);
}

/* Kernel to kernel: a retained QoS 2 message, then a live one. */
TEST_F(broker, retained_then_live_between_kernel_sockets)
{
	char id[64];
	int sub;

	kpublish(_metadata, self->fd, self->topic, 2, 1, "old", 3);
	unique_name(id, sizeof(id), "k2");
	sub = kconnect(_metadata, id, NULL, NULL);
	ksubscribe(_metadata, sub, self->topic, strlen(self->topic), 2);
	krecv_expect(_metadata, sub, self->topic, 2, 1,
		     (const uint8_t *)"old", 3);
	/* Forwarded live: RETAIN 0 [MQTT-3.3.1-9]. */
	kpublish(_metadata, self->fd, self->topic, 2, 1, "new", 3);
	krecv_expect(_metadata, sub, self->topic, 2, 0,
		     (const uint8_t *)"new", 3);
	clear_retained(_metadata, self->fd, self->topic);
	close(sub);
}

/* ---------------------------------------------------------------------- */
/* 2000 QoS 1 messages in a row: none lost, duplicated or reordered       */
/* ---------------------------------------------------------------------- */

static size_t run_payload(char *buf, int i)
{
	return snprintf(buf, 32, "run-%06d", i);
}

/* Receive RUN_LEN messages numbered 0.. in order on fd. */
static void krecv_run(struct __test_metadata *_metadata, int fd,
		      const char *topic)
{
	char want[32], buf[64];
	static struct rmsg m;
	size_t len;
	int i;

	for (i = 0; i < RUN_LEN; i++) {
		len = run_payload(want, i);
		ASSERT_EQ(POLLIN, poll_fd(_metadata, fd, POLLIN,
					  MSG_TIMEOUT_MS) & (POLLIN | POLLERR))
			TH_LOG("message %d never came", i);
		mqtt_recv(&m, fd, buf, sizeof(buf), MSG_DONTWAIT);
		ASSERT_EQ((ssize_t)len, m.ret) TH_LOG("message %d", i);
		buf[len] = '\0';
		ASSERT_STREQ(want, buf);
		ASSERT_EQ((ssize_t)strlen(topic), m.topic_len);
		ASSERT_EQ(1, m.qos);
	}
	expect_no_msg(_metadata, fd);
}

/* Send RUN_LEN QoS 1 messages; every one is reported acknowledged. */
static void ksend_run(struct __test_metadata *_metadata, int fd,
		      const char *topic)
{
	static int outcome[RUN_LEN];
	char buf[32];
	size_t len;
	int i;

	set_int(_metadata, fd, MQTT_DELIVERY_REPORTS, 1);
	set_str(_metadata, fd, MQTT_PUBLISH_TOPIC, topic, strlen(topic));
	set_int(_metadata, fd, MQTT_PUBLISH_QOS, 1);
	reports_init(outcome, RUN_LEN);
	for (i = 0; i < RUN_LEN; i++) {
		len = run_payload(buf, i);
		ASSERT_EQ((ssize_t)len, send(fd, buf, len, MSG_NOSIGNAL))
			TH_LOG("message %d: %s", i, strerror(errno));
		/* Drain as we go: the error queue is bounded too. */
		read_reports(_metadata, fd, outcome, RUN_LEN);
	}
	wait_reports(_metadata, fd, outcome, RUN_LEN);
	for (i = 0; i < RUN_LEN; i++) {
		ASSERT_EQ(0, outcome[i]) TH_LOG("message %d: %s", i,
						strerror(outcome[i]));
	}
	ASSERT_EQ(0, get_int(_metadata, fd, MQTT_INFLIGHT));
}

TEST_F_TIMEOUT(broker, run_of_2000_kernel_to_libmosquitto, 120)
{
	char id[64], want[32];
	struct lib_msg *lm;
	int i;

	unique_name(id, sizeof(id), "lib");
	lib_connect(_metadata, &self->lib, id);
	lib_subscribe(_metadata, &self->lib, self->topic, 1);
	ksend_run(_metadata, self->fd, self->topic);
	lib_wait_msgs(_metadata, &self->lib, RUN_LEN);
	usleep(QUIET_MS * 1000);
	ASSERT_EQ(RUN_LEN, self->lib.nmsgs);
	for (i = 0; i < RUN_LEN; i++) {
		lm = &self->lib.msgs[i];
		run_payload(want, i);
		ASSERT_EQ(strlen(want), lm->len) TH_LOG("message %d", i);
		ASSERT_EQ(0, memcmp(want, lm->payload, lm->len))
			TH_LOG("message %d: %.*s", i, (int)lm->len,
			       (char *)lm->payload);
		ASSERT_EQ(1, lm->qos);
	}
}

TEST_F_TIMEOUT(broker, run_of_2000_libmosquitto_to_kernel, 120)
{
	char id[64], buf[32];
	size_t len;
	int i;

	unique_name(id, sizeof(id), "lib");
	lib_connect(_metadata, &self->lib, id);
	ksubscribe(_metadata, self->fd, self->topic, strlen(self->topic), 1);
	for (i = 0; i < RUN_LEN; i++) {
		len = run_payload(buf, i);
		lib_publish(_metadata, &self->lib, self->topic, buf, len, 1);
	}
	krecv_run(_metadata, self->fd, self->topic);
	ASSERT_TRUE(lib_wait(&self->lib, &self->lib.published, RUN_LEN,
			     MSG_TIMEOUT_MS));
}

TEST_F_TIMEOUT(broker, run_of_2000_kernel_to_mosquitto_sub, 120)
{
	size_t pos = 0, len;
	const char *hex;
	char want[32];
	int qos, retain, status, i;
	struct child sub;

	sub_start(_metadata, &sub, self->topic, 1, RUN_LEN);
	ksend_run(_metadata, self->fd, self->topic);
	status = child_finish(&sub, 60000);
	for (i = 0; i < RUN_LEN; i++) {
		ASSERT_TRUE(sub_next_msg(&sub, &pos, &qos, &retain, &len,
					 &hex))
			TH_LOG("message %d missing (status %#x)", i, status);
		len = run_payload(want, i);
		ASSERT_TRUE(hex_equals(hex, (const uint8_t *)want, len))
			TH_LOG("message %d: %.40s", i, hex);
		ASSERT_EQ(1, qos);
	}
	ASSERT_FALSE(sub_next_msg(&sub, &pos, &qos, &retain, &len, &hex));
	child_free(&sub);
}

/* mosquitto_pub -l sends each line of its input as one message. */
TEST_F_TIMEOUT(broker, run_of_2000_mosquitto_pub_to_kernel, 120)
{
	char path[] = "/tmp/ksft-mqtt-lines-XXXXXX";
	char *const argv[] = {
		"sh", "-c",
		"exec mosquitto_pub -h \"$0\" -p \"$1\" -t \"$2\" -q 1 -l "
		"< \"$3\"",
		(char *)broker_host, port_str(), self->topic, path, NULL,
	};
	char line[32];
	struct child c;
	int fd, i, status;
	FILE *f;

	ksubscribe(_metadata, self->fd, self->topic, strlen(self->topic), 1);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	ASSERT_NE(NULL, f);
	for (i = 0; i < RUN_LEN; i++) {
		run_payload(line, i);
		fprintf(f, "%s\n", line);
	}
	ASSERT_EQ(0, fclose(f));
	child_start(_metadata, &c, argv);
	krecv_run(_metadata, self->fd, self->topic);
	status = child_finish(&c, MSG_TIMEOUT_MS);
	unlink(path);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("mosquitto_pub (%#x): %.300s", status, c.buf);
	child_free(&c);
}

/* ---------------------------------------------------------------------- */
/* The will [MQTT-3.1.2-8] [MQTT-3.1.2-10]                                 */
/* ---------------------------------------------------------------------- */

FIXTURE(will) {
	char will_topic[96];
	char will_msg[64];
	struct lib lib;		/* subscribed to the will topic */
};

FIXTURE_SETUP(will)
{
	char id[64];

	require_broker(_metadata, "MQTT_BROKER_PORT", 1883);
	unique_name(self->will_topic, sizeof(self->will_topic), "will");
	snprintf(self->will_msg, sizeof(self->will_msg), "gone-%d",
		 getpid());
	unique_name(id, sizeof(id), "lib");
	lib_connect(_metadata, &self->lib, id);
	lib_subscribe(_metadata, &self->lib, self->will_topic, 1);
}

FIXTURE_TEARDOWN(will)
{
	lib_free(&self->lib);
}

/* The will arrives: the first message on the will topic is it. */
static void expect_will(struct __test_metadata *_metadata,
			FIXTURE_DATA(will) *self)
{
	struct lib_msg *lm;

	lib_wait_msgs(_metadata, &self->lib, 1);
	lm = &self->lib.msgs[0];
	ASSERT_EQ(strlen(self->will_msg), lm->len);
	EXPECT_EQ(0, memcmp(lm->payload, self->will_msg, lm->len));
	EXPECT_EQ(1, lm->qos);
}

/*
 * No will: after a while a marker published on the will topic is the
 * first message there, so the subscriber was listening all along.
 */
static void expect_no_will(struct __test_metadata *_metadata,
			   FIXTURE_DATA(will) *self)
{
	struct lib_msg *lm;

	usleep(1500 * 1000);
	lib_publish(_metadata, &self->lib, self->will_topic, "marker", 6, 1);
	lib_wait_msgs(_metadata, &self->lib, 1);
	lm = &self->lib.msgs[0];
	ASSERT_EQ(6, (int)lm->len)
		TH_LOG("got \"%.*s\" before the marker", (int)lm->len,
		       (char *)lm->payload);
	EXPECT_EQ(0, memcmp(lm->payload, "marker", 6));
}

/* A connected socket with the will; -errno on failure (for children). */
static int will_socket(FIXTURE_DATA(will) *self)
{
	char id[64];

	unique_name(id, sizeof(id), "kw");
	return kconnect_raw(id, self->will_topic, self->will_msg);
}

/* SO_LINGER {1, 0}: no DISCONNECT, so the broker publishes the will. */
TEST_F(will, published_on_abortive_close)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = will_socket(self);

	ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
	ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	close(fd);
	expect_will(_metadata, self);
}

/* A clean close sends DISCONNECT: the will is discarded [MQTT-3.1.2-10]. */
TEST_F(will, not_published_on_clean_close)
{
	int fd = will_socket(self);

	ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
	close(fd);
	expect_no_will(_metadata, self);
}

/* The owner exits without close(): still a clean end. */
TEST_F(will, not_published_on_normal_exit)
{
	pid_t pid;
	int status, fd;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		fd = will_socket(self);
		_exit(fd < 0 ? -fd : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child: status %#x", status);
	expect_no_will(_metadata, self);
}

/* The owner is killed: no DISCONNECT, the will is published. */
TEST_F(will, published_on_sigkill_of_owner)
{
	int ready[2], status;
	char token;
	pid_t pid;

	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(ready[0]);
		alarm(CHILD_TIMEOUT_S);
		if (will_socket(self) < 0 || write(ready[1], "c", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ASSERT_TRUE(wait_readable(ready[0], MSG_TIMEOUT_MS));
	ASSERT_EQ(1, read(ready[0], &token, 1)) TH_LOG("child failed");
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	close(ready[0]);
	expect_will(_metadata, self);
}

TEST_HARNESS_MAIN
