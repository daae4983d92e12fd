// SPDX-License-Identifier: GPL-2.0
/*
 * AF_MQTT security properties.
 *
 * - The family needs no privilege: a process that dropped to
 *   nobody/nogroup with no capabilities connects, subscribes, publishes
 *   and receives (against the in-process auto broker, and against the VM
 *   runner's mosquitto when it is reachable).
 * - The password cannot be read back.
 * - No uninitialised kernel memory reaches user space: every output
 *   buffer (option values, struct mqtt_connack, the SUBSCRIBE write-back,
 *   recvmsg() payload, name and control buffers, the error queue's
 *   struct sock_extended_err, getpeername()/getsockname() addresses) is
 *   pre-filled with 0xa5, and every byte the kernel reports as written is
 *   checked against the value it must hold, while every byte it does not
 *   report must still be 0xa5.  put_cmsg() does not write the CMSG_SPACE
 *   padding after cmsg_len: those bytes must be 0xa5 (untouched) or 0.
 */

#define _GNU_SOURCE

#include <grp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "peer.h"
#include "autobroker.h"

#define PAT		0xa5

static bool all_pat(const void *buf, size_t from, size_t to)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = from; i < to; i++)
		if (b[i] != PAT)
			return false;
	return true;
}

#define EXPECT_UNTOUCHED(buf, from, to) do {				\
	size_t f_ = (from), t_ = (to);					\
	EXPECT_TRUE(all_pat((buf), f_, t_))				\
		log_hex(_metadata, "written beyond what was reported",	\
			(const uint8_t *)(buf), t_, f_);		\
} while (0)

/* A session with a scripted peer on 127.0.0.1 or ::1, non-blocking. */
static void sess_nonblock_up(struct __test_metadata *_metadata,
			     struct sess *s, bool v6)
{
	sess_up(_metadata, s, v6 ? AF_INET6 : AF_INET);
	set_nonblock(_metadata, s->fd);
}

/* ---------------------------------------------------------------------- */
/* An unprivileged user                                                    */
/* ---------------------------------------------------------------------- */

/* In the child: the whole session; returns 0 or a step number. */
static int unpriv_session(const struct sockaddr_in *addr, char *why,
			  size_t wlen)
{
	char cid[32], topic[32], buf[64], ctl[RECV_CONTROL];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fd, qos = 1, one = 1, tmo = TEST_CONNECT_TIMEOUT_MS, zero = 0;
	struct sub_buf sb;
	socklen_t len;
	ssize_t n;

	snprintf(cid, sizeof(cid), "unpriv-%d", getpid());
	snprintf(topic, sizeof(topic), "unpriv/%d", getpid());
	fd = socket(mqtt_family(), SOCK_SEQPACKET, 0);
	if (fd < 0) {
		snprintf(why, wlen, "socket: %s", strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_MQTT, MQTT_CONNECT_TIMEOUT, &tmo, sizeof(tmo));
	setsockopt(fd, SOL_MQTT, MQTT_KEEPALIVE, &zero, sizeof(zero));
	if (setsockopt(fd, SOL_MQTT, MQTT_CLIENT_ID, cid, strlen(cid)) ||
	    setsockopt(fd, SOL_MQTT, MQTT_DELIVERY_REPORTS, &one,
		       sizeof(one))) {
		snprintf(why, wlen, "setsockopt: %s", strerror(errno));
		return 2;
	}
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr))) {
		snprintf(why, wlen, "connect: %s", strerror(errno));
		return 3;
	}
	len = sub_fill(&sb, 1, topic, strlen(topic));
	if (setsockopt(fd, SOL_MQTT, MQTT_SUBSCRIBE, &sb, len)) {
		snprintf(why, wlen, "subscribe: %s", strerror(errno));
		return 4;
	}
	if (setsockopt(fd, SOL_MQTT, MQTT_PUBLISH_TOPIC, topic,
		       strlen(topic)) ||
	    setsockopt(fd, SOL_MQTT, MQTT_PUBLISH_QOS, &qos, sizeof(qos))) {
		snprintf(why, wlen, "publish options: %s", strerror(errno));
		return 5;
	}
	if (write(fd, "unpriv", 6) != 6) {
		snprintf(why, wlen, "write: %s", strerror(errno));
		return 6;
	}
	if (!wait_readable(fd, PEER_TIMEOUT_MS)) {
		snprintf(why, wlen, "nothing received");
		return 7;
	}
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	n = recvmsg(fd, &msg, 0);
	if (n != 6 || memcmp(buf, "unpriv", 6)) {
		snprintf(why, wlen, "recvmsg: %zd %s", n,
			 n < 0 ? strerror(errno) : "");
		return 8;
	}
	/* The delivery report of the QoS 1 message. */
	{
		int64_t dl = now_ms() + PEER_TIMEOUT_MS;
		struct msghdr em = { };
		char ectl[128];

		em.msg_control = ectl;
		em.msg_controllen = sizeof(ectl);
		while ((n = recvmsg(fd, &em, MSG_ERRQUEUE | MSG_DONTWAIT)) < 0 &&
		       errno == EAGAIN && now_ms() < dl) {
			usleep(10000);
			em.msg_controllen = sizeof(ectl);
		}
		if (n < 0) {
			snprintf(why, wlen, "no delivery report: %s",
				 strerror(errno));
			return 9;
		}
	}
	close(fd);
	return 0;
}

/* Drop to nobody with no capabilities, then run the session. */
static void unpriv_run(struct __test_metadata *_metadata,
		       const struct sockaddr_in *addr)
{
	char why[256] = "";
	int pipefd[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char line[256];
		FILE *f;
		int rc = 0;

		close(pipefd[0]);
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534) ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
			snprintf(why, sizeof(why), "dropping privileges: %s",
				 strerror(errno));
			rc = 100;
		}
		/* Really no capability left. */
		f = fopen("/proc/self/status", "r");
		while (!rc && f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "CapEff:", 7) &&
			    strtoull(line + 7, NULL, 16)) {
				snprintf(why, sizeof(why), "still %.200s", line);
				rc = 101;
			}
		if (f)
			fclose(f);
		if (!rc && (getuid() != 65534 || geteuid() != 65534)) {
			snprintf(why, sizeof(why), "uid %d", getuid());
			rc = 102;
		}
		if (!rc)
			rc = unpriv_session(addr, why, sizeof(why));
		if (write(pipefd[1], why, strlen(why) + 1) < 0)
			rc = 103;
		_exit(rc);
	}
	close(pipefd[1]);
	ASSERT_TRUE(wait_readable(pipefd[0], 3 * PEER_TIMEOUT_MS));
	if (read(pipefd[0], why, sizeof(why) - 1) < 0)
		why[0] = '\0';
	close(pipefd[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("as nobody: %s", why);
}

TEST(unprivileged_user_session_scripted_broker)
{
	struct autobroker *ab;

	if (geteuid())
		SKIP(return, "needs root to drop to nobody");
	ab = ab_new();
	ASSERT_NE(NULL, ab);
	ab->echo = true;
	ASSERT_EQ(0, ab_start(ab, false));
	unpriv_run(_metadata, &ab->addr);
	ab_stop(ab);
	EXPECT_EQ(0, ab_get(&ab->errors));
	ab_free(ab);
}

TEST(unprivileged_user_session_mosquitto)
{
	struct sockaddr_in addr = broker_in("MQTT_BROKER_PORT", 1883);

	if (geteuid())
		SKIP(return, "needs root to drop to nobody");
	require_broker(_metadata, "MQTT_BROKER_PORT", 1883);
	unpriv_run(_metadata, &addr);
}

/* ---------------------------------------------------------------------- */
/* Option values                                                           */
/* ---------------------------------------------------------------------- */

TEST(password_never_readable)
{
	struct autobroker *ab = ab_new();
	uint8_t buf[64];
	socklen_t len = sizeof(buf);
	int fd;

	ASSERT_NE(NULL, ab);
	fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	set_str(_metadata, fd, MQTT_USERNAME, "u", 1);
	set_str(_metadata, fd, MQTT_PASSWORD, "secret", 6);
	memset(buf, PAT, sizeof(buf));
	EXPECT_EQ(EOPNOTSUPP, get_opt(fd, MQTT_PASSWORD, buf, &len));
	EXPECT_EQ(sizeof(buf), (size_t)len);
	EXPECT_UNTOUCHED(buf, 0, sizeof(buf));

	/* Connected too. */
	ASSERT_EQ(0, ab_start(ab, false));
	ASSERT_EQ(0, connect_in(fd, &ab->addr));
	len = sizeof(buf);
	EXPECT_EQ(EOPNOTSUPP, get_opt(fd, MQTT_PASSWORD, buf, &len));
	EXPECT_EQ(sizeof(buf), (size_t)len);
	EXPECT_UNTOUCHED(buf, 0, sizeof(buf));
	close(fd);
	ab_stop(ab);
	ab_free(ab);
}

/* An int option: exactly sizeof(int) written, holding want. */
static void check_int_opt(struct __test_metadata *_metadata, int fd, int name,
			  int want)
{
	uint8_t buf[32];
	socklen_t len = sizeof(buf);
	int val;

	memset(buf, PAT, sizeof(buf));
	ASSERT_EQ(0, get_opt(fd, name, buf, &len)) TH_LOG("option %d", name);
	ASSERT_EQ(sizeof(int), (size_t)len) TH_LOG("option %d", name);
	memcpy(&val, buf, sizeof(val));
	EXPECT_EQ(want, val) TH_LOG("option %d", name);
	EXPECT_UNTOUCHED(buf, sizeof(int), sizeof(buf));
}

/* A string option: exactly its bytes written; ERANGE writes nothing. */
static void check_str_opt(struct __test_metadata *_metadata, int fd, int name,
			  const char *want)
{
	size_t wlen = strlen(want);
	uint8_t buf[64];
	socklen_t len = sizeof(buf);

	memset(buf, PAT, sizeof(buf));
	ASSERT_EQ(0, get_opt(fd, name, buf, &len)) TH_LOG("option %d", name);
	ASSERT_EQ(wlen, (size_t)len);
	EXPECT_EQ(0, memcmp(buf, want, wlen));
	EXPECT_UNTOUCHED(buf, wlen, sizeof(buf));
	if (!wlen)
		return;
	len = wlen - 1;
	memset(buf, PAT, sizeof(buf));
	EXPECT_EQ(ERANGE, get_opt(fd, name, buf, &len));
	EXPECT_EQ(wlen, (size_t)len);
	EXPECT_UNTOUCHED(buf, 0, sizeof(buf));
}

static void check_all_opts(struct __test_metadata *_metadata, int fd,
			   int inflight)
{
	check_int_opt(_metadata, fd, MQTT_KEEPALIVE, 7);
	check_int_opt(_metadata, fd, MQTT_CLEAN_SESSION, 1);
	check_int_opt(_metadata, fd, MQTT_WILL_QOS, 2);
	check_int_opt(_metadata, fd, MQTT_WILL_RETAIN, 1);
	check_int_opt(_metadata, fd, MQTT_PROTOCOL_LEVEL, 4);
	check_int_opt(_metadata, fd, MQTT_CONNECT_TIMEOUT,
		      TEST_CONNECT_TIMEOUT_MS);
	check_int_opt(_metadata, fd, MQTT_PUBLISH_QOS, 1);
	check_int_opt(_metadata, fd, MQTT_PUBLISH_RETAIN, 0);
	check_int_opt(_metadata, fd, MQTT_INFLIGHT_MAX, 9);
	check_int_opt(_metadata, fd, MQTT_INFLIGHT, inflight);
	check_int_opt(_metadata, fd, MQTT_DELIVERY_REPORTS, 1);
	check_int_opt(_metadata, fd, MQTT_ACK_TIMEOUT, 4321);
	check_int_opt(_metadata, fd, MQTT_RECV_MAX, 100000);
	check_str_opt(_metadata, fd, MQTT_CLIENT_ID, "sec-id");
	check_str_opt(_metadata, fd, MQTT_USERNAME, "");
	check_str_opt(_metadata, fd, MQTT_WILL_TOPIC, "sec/will");
	check_str_opt(_metadata, fd, MQTT_WILL_MESSAGE, "gone");
	check_str_opt(_metadata, fd, MQTT_PUBLISH_TOPIC, "sec/pub");
}

TEST(getsockopt_writes_only_defined_bytes)
{
	struct autobroker *ab = ab_new();
	uint8_t buf[32];
	socklen_t len;
	int fd;

	ASSERT_NE(NULL, ab);
	ab->no_ack = true;
	fd = mqtt_socket(_metadata, SOCK_SEQPACKET);
	set_int(_metadata, fd, MQTT_KEEPALIVE, 7);
	set_int(_metadata, fd, MQTT_WILL_QOS, 2);
	set_int(_metadata, fd, MQTT_WILL_RETAIN, 1);
	set_int(_metadata, fd, MQTT_PUBLISH_QOS, 1);
	set_int(_metadata, fd, MQTT_INFLIGHT_MAX, 9);
	set_int(_metadata, fd, MQTT_DELIVERY_REPORTS, 1);
	set_int(_metadata, fd, MQTT_ACK_TIMEOUT, 4321);
	set_int(_metadata, fd, MQTT_RECV_MAX, 100000);
	set_str(_metadata, fd, MQTT_CLIENT_ID, "sec-id", 6);
	set_str(_metadata, fd, MQTT_USERNAME, "", 0);
	set_str(_metadata, fd, MQTT_WILL_TOPIC, "sec/will", 8);
	set_str(_metadata, fd, MQTT_WILL_MESSAGE, "gone", 4);
	set_str(_metadata, fd, MQTT_PUBLISH_TOPIC, "sec/pub", 7);
	check_all_opts(_metadata, fd, 0);

	/* No CONNACK yet: nothing written. */
	memset(buf, PAT, sizeof(buf));
	len = sizeof(buf);
	EXPECT_EQ(ENOTCONN, get_opt(fd, MQTT_CONNACK, buf, &len));
	EXPECT_UNTOUCHED(buf, 0, sizeof(buf));
	/* Write-only options: nothing written. */
	len = sizeof(buf);
	EXPECT_EQ(EOPNOTSUPP, get_opt(fd, MQTT_SUBSCRIBE, buf, &len));
	len = sizeof(buf);
	EXPECT_EQ(EOPNOTSUPP, get_opt(fd, MQTT_UNSUBSCRIBE, buf, &len));
	EXPECT_UNTOUCHED(buf, 0, sizeof(buf));

	ASSERT_EQ(0, ab_start(ab, false));
	ASSERT_EQ(0, connect_in(fd, &ab->addr));
	ASSERT_EQ(1, write(fd, "q", 1));		/* stays in flight */

	/* struct mqtt_connack: 4 bytes, reserved 0. */
	memset(buf, PAT, sizeof(buf));
	len = sizeof(buf);
	ASSERT_EQ(0, get_opt(fd, MQTT_CONNACK, buf, &len));
	ASSERT_EQ(sizeof(struct mqtt_connack), (size_t)len);
	EXPECT_EQ(0, buf[0]);
	EXPECT_EQ(0, buf[1]);
	EXPECT_EQ(0, buf[2]);
	EXPECT_EQ(0, buf[3]);
	EXPECT_UNTOUCHED(buf, sizeof(struct mqtt_connack), sizeof(buf));
	/* Too short: EINVAL, nothing written. */
	memset(buf, PAT, sizeof(buf));
	len = sizeof(struct mqtt_connack) - 1;
	EXPECT_EQ(EINVAL, get_opt(fd, MQTT_CONNACK, buf, &len));
	EXPECT_UNTOUCHED(buf, 0, sizeof(buf));

	check_all_opts(_metadata, fd, 1);
	close(fd);
	ab_stop(ab);
	ab_free(ab);
}

/* SUBSCRIBE writes back the granted QoS and nothing else. */
TEST(subscribe_writes_back_only_qos)
{
	struct sess s;
	struct {
		struct mqtt_subscription sub;
		char filter[8];
		uint8_t tail[16];
	} b;
	ssize_t n;
	pid_t pid;

	sess_nonblock_up(_metadata, &s, false);
	memset(&b, PAT, sizeof(b));
	b.sub.qos = 2;
	b.sub.reserved = 0;
	b.sub.filter_len = 3;
	memcpy(b.sub.filter, "a/b", 3);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* The peer: grant QoS 1. */
		uint8_t suback[5] = { SUBACK, 3 };

		n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
		if (n < 4 || s.p.pkt[0] != SUBSCRIBE)
			_exit(1);
		memcpy(suback + 2, s.p.pkt + 2, 2);	/* the identifier */
		suback[4] = 1;
		_exit(peer_write(&s.p, suback, sizeof(suback)) ? 2 : 0);
	}
	EXPECT_EQ(0, setsockopt(s.fd, SOL_MQTT, MQTT_SUBSCRIBE, &b,
				sizeof(b.sub) + 3))
		TH_LOG("subscribe: %s", strerror(errno));
	waitpid(pid, NULL, 0);
	EXPECT_EQ(1, b.sub.qos);
	EXPECT_EQ(0, b.sub.reserved);
	EXPECT_EQ(3, b.sub.filter_len);
	EXPECT_EQ(0, memcmp(b.sub.filter, "a/b", 3));
	EXPECT_UNTOUCHED(&b, offsetof(struct mqtt_subscription, filter) + 3,
			 sizeof(b));
	sess_fini(&s);
}

/* ---------------------------------------------------------------------- */
/* recvmsg(): payload, name and control buffers                            */
/* ---------------------------------------------------------------------- */

/* One cmsg as it must be: level, type, exact length, data. */
static struct cmsghdr *check_cmsg(struct __test_metadata *_metadata,
				  struct msghdr *msg, struct cmsghdr *c,
				  int level, int type, const void *data,
				  size_t len)
{
	const uint8_t *end = (uint8_t *)msg->msg_control + msg->msg_controllen;
	const uint8_t *pad, *pad_end;

	ASSERT_NE(NULL, c) TH_LOG("cmsg %d/%d missing", level, type);
	EXPECT_EQ(level, c->cmsg_level);
	EXPECT_EQ(type, c->cmsg_type);
	ASSERT_EQ(CMSG_LEN(len), c->cmsg_len) TH_LOG("cmsg %d/%d", level, type);
	EXPECT_EQ(0, memcmp(CMSG_DATA(c), data, len))
		log_hex(_metadata, "cmsg data", CMSG_DATA(c), len, 0);
	/* Padding up to CMSG_SPACE (within the returned length): never
	 * written by put_cmsg, so still the pattern (or zero).
	 */
	pad = (uint8_t *)c + c->cmsg_len;
	pad_end = (uint8_t *)c + CMSG_SPACE(len);
	if (pad_end > end)
		pad_end = end;
	for (; pad < pad_end; pad++)
		EXPECT_TRUE(*pad == PAT || *pad == 0)
			TH_LOG("cmsg %d/%d padding byte %#x", level, type,
			       *pad);
	return CMSG_NXTHDR(msg, c);
}

TEST(recvmsg_writes_only_defined_bytes)
{
	static const char topic[] = "sec/topic/odd-len";	/* 17: padded */
	uint8_t data[64], name[64], ctl[512];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg;
	struct cmsghdr *c;
	struct sess s;
	size_t want_ctl;
	int one = 1;
	ssize_t n;

	sess_nonblock_up(_metadata, &s, false);
	/* QoS 1, DUP, retain: every int cmsg is 1. */
	peer_publish_str(_metadata, &s.p,
			 PUBLISH | PUB_DUP | PUB_QOS(1) | PUB_RETAIN, topic,
			 7, "payload");
	ASSERT_TRUE(wait_readable(s.fd, PEER_TIMEOUT_MS));

	memset(data, PAT, sizeof(data));
	memset(name, PAT, sizeof(name));
	memset(ctl, PAT, sizeof(ctl));
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = name;
	msg.msg_namelen = sizeof(name);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	n = recvmsg(s.fd, &msg, 0);
	ASSERT_EQ(7, n) TH_LOG("recvmsg: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(data, "payload", 7));
	EXPECT_UNTOUCHED(data, 7, sizeof(data));
	EXPECT_EQ(0, (int)msg.msg_namelen);
	EXPECT_UNTOUCHED(name, 0, sizeof(name));
	EXPECT_EQ(MSG_EOR, msg.msg_flags);

	want_ctl = CMSG_SPACE(strlen(topic)) + 3 * CMSG_SPACE(sizeof(int));
	EXPECT_EQ(want_ctl, msg.msg_controllen);
	c = CMSG_FIRSTHDR(&msg);
	c = check_cmsg(_metadata, &msg, c, SOL_MQTT, MQTT_PUBLISH_TOPIC, topic,
		       strlen(topic));
	c = check_cmsg(_metadata, &msg, c, SOL_MQTT, MQTT_PUBLISH_QOS, &one,
		       sizeof(one));
	c = check_cmsg(_metadata, &msg, c, SOL_MQTT, MQTT_PUBLISH_RETAIN, &one,
		       sizeof(one));
	c = check_cmsg(_metadata, &msg, c, SOL_MQTT, MQTT_PUBLISH_DUP, &one,
		       sizeof(one));
	EXPECT_EQ(NULL, c);
	EXPECT_UNTOUCHED(ctl, msg.msg_controllen, sizeof(ctl));
	sess_fini(&s);
}

/* A short control buffer: MSG_CTRUNC, nothing beyond what was written. */
TEST(recvmsg_ctrunc_writes_only_defined_bytes)
{
	static const char topic[] = "sec/t";
	uint8_t data[8], ctl[CMSG_SPACE(5) + 8];
	struct iovec iov = { .iov_base = data, .iov_len = 2 };
	struct msghdr msg = { };
	struct cmsghdr *c;
	struct sess s;
	ssize_t n;

	sess_nonblock_up(_metadata, &s, false);
	peer_publish_str(_metadata, &s.p, PUBLISH, topic, 0, "abcdef");
	ASSERT_TRUE(wait_readable(s.fd, PEER_TIMEOUT_MS));
	memset(data, PAT, sizeof(data));
	memset(ctl, PAT, sizeof(ctl));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	n = recvmsg(s.fd, &msg, 0);
	ASSERT_EQ(2, n) TH_LOG("recvmsg: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(data, "ab", 2));
	EXPECT_UNTOUCHED(data, 2, sizeof(data));
	EXPECT_EQ(MSG_EOR | MSG_TRUNC | MSG_CTRUNC, msg.msg_flags);
	ASSERT_LE(CMSG_SPACE(5), msg.msg_controllen);
	c = CMSG_FIRSTHDR(&msg);
	c = check_cmsg(_metadata, &msg, c, SOL_MQTT, MQTT_PUBLISH_TOPIC, topic,
		       5);
	/* What follows the topic is a truncated header or nothing. */
	EXPECT_UNTOUCHED(ctl, msg.msg_controllen, sizeof(ctl));
	sess_fini(&s);
}

/* The error queue: struct sock_extended_err fully defined. */
/* Read one report and check every byte recvmsg() wrote for it; the
 * report must start at @first and end at or before @last.
 * Return: the last message it covers.
 */
static uint32_t check_one_report(struct __test_metadata *_metadata, int fd,
				 int want_errno, uint32_t first, uint32_t last)
{
	uint8_t data[16], name[32], ctl[256];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct sock_extended_err want = {
		.ee_errno = want_errno,
		.ee_origin = SO_EE_ORIGIN_MQTT,
		.ee_info = first,
	};
	struct msghdr msg = { };
	struct cmsghdr *c;
	ssize_t n;

	ASSERT_EQ(POLLERR, poll_fd(_metadata, fd, 0, PEER_TIMEOUT_MS) &
			   POLLERR);
	memset(data, PAT, sizeof(data));
	memset(name, PAT, sizeof(name));
	memset(ctl, PAT, sizeof(ctl));
	msg.msg_name = name;
	msg.msg_namelen = sizeof(name);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
	ASSERT_EQ(0, n) TH_LOG("recvmsg: %s", strerror(errno));
	EXPECT_UNTOUCHED(data, 0, sizeof(data));
	EXPECT_EQ(0, (int)msg.msg_namelen);
	EXPECT_UNTOUCHED(name, 0, sizeof(name));
	EXPECT_EQ(MSG_ERRQUEUE, msg.msg_flags);
	EXPECT_EQ(CMSG_SPACE(sizeof(want)), msg.msg_controllen);
	c = CMSG_FIRSTHDR(&msg);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(CMSG_LEN(sizeof(want)), c->cmsg_len);
	/* Where the range ends depends on when the reader came (a report
	 * grows only while it is queued); everything else is fixed.
	 */
	memcpy(&want.ee_data, CMSG_DATA(c) +
	       offsetof(struct sock_extended_err, ee_data),
	       sizeof(want.ee_data));
	ASSERT_LE(first, want.ee_data);
	ASSERT_GE(last, want.ee_data);
	c = check_cmsg(_metadata, &msg, c, SOL_MQTT, MQTT_DELIVERY_REPORTS,
		       &want, sizeof(want));
	EXPECT_EQ(NULL, c);
	EXPECT_UNTOUCHED(ctl, msg.msg_controllen, sizeof(ctl));
	return want.ee_data;
}

/* Messages @first..@last have outcome @want_errno, in one report or in
 * consecutive ones.
 */
static void check_report(struct __test_metadata *_metadata, int fd,
			 int want_errno, uint32_t first, uint32_t last)
{
	while (first <= last)
		first = check_one_report(_metadata, fd, want_errno, first,
					 last) + 1;
}

TEST(errqueue_report_writes_only_defined_bytes)
{
	struct sess s;
	uint8_t ack[4];
	ssize_t n;

	sess_nonblock_up(_metadata, &s, false);
	set_int(_metadata, s.fd, MQTT_DELIVERY_REPORTS, 1);
	publish(_metadata, s.fd, "sec/r", 1, "a", 1);
	n = peer_pkt(&s.p, PEER_TIMEOUT_MS);
	ASSERT_LT(4, n);
	build_ack(ack, PUBACK, s.p.pkt[n - 3] << 8 | s.p.pkt[n - 2]);
	ASSERT_EQ(4, send(s.p.pfd, ack, 4, MSG_NOSIGNAL));
	check_report(_metadata, s.fd, 0, 0, 0);

	/* A message lost with the session: ECONNRESET. */
	publish(_metadata, s.fd, "sec/r", 1, "b", 1);
	publish(_metadata, s.fd, "sec/r", 2, "c", 1);
	ASSERT_LT(0, peer_pkt(&s.p, PEER_TIMEOUT_MS));
	ASSERT_LT(0, peer_pkt(&s.p, PEER_TIMEOUT_MS));
	close(s.p.pfd);
	s.p.pfd = -1;
	check_report(_metadata, s.fd, ECONNRESET, 1, 2);
	sess_fini(&s);
}

/* ---------------------------------------------------------------------- */
/* Addresses                                                               */
/* ---------------------------------------------------------------------- */

static void check_name(struct __test_metadata *_metadata, int fd, bool peer,
		       const void *want, socklen_t wlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	memset(&ss, PAT, sizeof(ss));
	ret = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) :
		     getsockname(fd, (struct sockaddr *)&ss, &len);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", peer ? "getpeername" :
				 "getsockname", strerror(errno));
	ASSERT_EQ(wlen, len);
	if (want)
		expect_bytes(_metadata, (const uint8_t *)want, wlen,
			     (const uint8_t *)&ss, len);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		static const uint8_t zero[8];

		EXPECT_EQ(0, memcmp(s4->sin_zero, zero, sizeof(zero)));
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		EXPECT_EQ(AF_INET6, s6->sin6_family);
		EXPECT_EQ(0U, s6->sin6_flowinfo);
		EXPECT_EQ(0U, s6->sin6_scope_id);
	}
	EXPECT_UNTOUCHED(&ss, len, sizeof(ss));
}

static void names(struct __test_metadata *_metadata, bool v6)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	uint8_t buf[128];
	socklen_t len = sizeof(buf);
	struct sess s;

	sess_nonblock_up(_metadata, &s, v6);
	check_name(_metadata, s.fd, true, &s.p.addr, s.p.alen);
	/* The local address is the peer's view of the client. */
	ASSERT_EQ(0, getpeername(s.p.pfd, (struct sockaddr *)&local, &llen));
	check_name(_metadata, s.fd, false, &local, llen);
	/* SO_PEERNAME goes through the same getname (the socket layer
	 * wants a buffer no larger than the address).
	 */
	memset(buf, PAT, sizeof(buf));
	len = s.p.alen;
	ASSERT_EQ(0, getsockopt(s.fd, SOL_SOCKET, SO_PEERNAME, buf, &len));
	ASSERT_EQ(s.p.alen, len);
	EXPECT_EQ(0, memcmp(buf, &s.p.addr, len));
	EXPECT_UNTOUCHED(buf, len, sizeof(buf));
	sess_fini(&s);
}

TEST(getname_ipv4_writes_only_defined_bytes)
{
	names(_metadata, false);
}

TEST(getname_ipv6_writes_only_defined_bytes)
{
	names(_metadata, true);
}

TEST(getname_unconnected_writes_nothing)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = mqtt_socket(_metadata, SOCK_SEQPACKET);

	memset(&ss, PAT, sizeof(ss));
	EXPECT_EQ(-1, getpeername(fd, (struct sockaddr *)&ss, &len));
	EXPECT_EQ(ENOTCONN, errno);
	EXPECT_EQ(-1, getsockname(fd, (struct sockaddr *)&ss, &len));
	EXPECT_EQ(ENOTCONN, errno);
	EXPECT_EQ(sizeof(ss), (size_t)len);
	EXPECT_UNTOUCHED(&ss, 0, sizeof(ss));
	close(fd);
}

TEST_HARNESS_MAIN
