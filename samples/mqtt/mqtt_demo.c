// SPDX-License-Identifier: GPL-2.0
/*
 * mqtt_demo - connect to an MQTT broker through an AF_MQTT socket.
 *
 * The kernel speaks MQTT 3.1.1 for us: the program opens an AF_MQTT
 * socket, sets the session fields (client id, user name, password) with
 * setsockopt(SOL_MQTT, ...) and calls connect() with the broker's ordinary
 * IPv4 or IPv6 address.  connect() returns once the broker's CONNACK has
 * arrived; getsockopt(SOL_MQTT, MQTT_CONNACK) then tells what it said.
 *
 * It tries three connections against the broker the test VM runs:
 *
 *   127.0.0.1:1884  user "gw", right password    -> must be accepted
 *   127.0.0.1:1884  user "gw", wrong password    -> must be refused
 *   [::1]:1885      anonymous                    -> informational
 *
 * and then runs a session: subscribe to demo/#, publish one QoS 1 message
 * to demo/temperature, receive it back through the broker, and read the
 * kernel's delivery report for it.
 *
 * Exit status: 0 if the right password was accepted, the broker refused
 * the wrong one (a CONNACK with a non-zero code arrived) and the message
 * made the round trip, 1 otherwise.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/mqtt.h>

#include "mqtt_family.h"

#define CONNECT_MS	10000

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct attempt {
	const char *title;
	const char *addr;		/* numeric IPv4 or IPv6 address */
	unsigned short port;
	const char *client_id;
	const char *username;		/* NULL: anonymous */
	const char *password;		/* NULL: none */
};

static const struct attempt attempts[] = {
	{
		.title		= "user \"gw\" with the right password",
		.addr		= "127.0.0.1",
		.port		= 1884,
		.client_id	= "mqtt-demo-good",
		.username	= "gw",
		.password	= "gw-secret",
	},
	{
		.title		= "user \"gw\" with a wrong password",
		.addr		= "127.0.0.1",
		.port		= 1884,
		.client_id	= "mqtt-demo-bad",
		.username	= "gw",
		.password	= "not-the-password",
	},
	{
		.title		= "anonymously over IPv6",
		.addr		= "::1",
		.port		= 1885,
		.client_id	= "mqtt-demo-v6",
	},
};

enum outcome {
	ACCEPTED,	/* connect() returned 0: CONNACK code 0 */
	REFUSED,	/* the broker answered with a non-zero CONNACK code */
	FAILED,		/* no CONNACK: local error, timeout, protocol error */
};

static const char * const outcome_text[] = {
	[ACCEPTED]	= "accepted",
	[REFUSED]	= "refused by the broker",
	[FAILED]	= "failed without an answer from the broker",
};

/* What the broker's CONNACK return code means (MQTT 3.1.1, 3.2.2.3). */
static const char *connack_text(unsigned int code)
{
	switch (code) {
	case MQTT_CONNACK_ACCEPTED:
		return "connection accepted";
	case MQTT_CONNACK_UNACCEPTABLE_PROTOCOL:
		return "refused: unacceptable protocol version";
	case MQTT_CONNACK_IDENTIFIER_REJECTED:
		return "refused: client identifier rejected";
	case MQTT_CONNACK_SERVER_UNAVAILABLE:
		return "refused: server unavailable";
	case MQTT_CONNACK_BAD_USERNAME_OR_PASSWORD:
		return "refused: bad user name or password";
	case MQTT_CONNACK_NOT_AUTHORIZED:
		return "refused: not authorized";
	default:
		return "refused: reserved return code";
	}
}

/* The errno values connect() on AF_MQTT documents, by name. */
static const char *errno_name(int err)
{
	switch (err) {
	case EPROTONOSUPPORT:	return "EPROTONOSUPPORT";
	case EINVAL:		return "EINVAL";
	case ECONNREFUSED:	return "ECONNREFUSED";
	case EKEYREJECTED:	return "EKEYREJECTED";
	case EACCES:		return "EACCES";
	case EPROTO:		return "EPROTO";
	case ETIMEDOUT:		return "ETIMEDOUT";
	case EAFNOSUPPORT:	return "EAFNOSUPPORT";
	default:		return "errno";
	}
}

static int set_string(int fd, int opt, const char *name, const char *val)
{
	if (setsockopt(fd, SOL_MQTT, opt, val, strlen(val)) < 0) {
		printf("    setsockopt(%s): %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int set_int(int fd, int opt, const char *name, int val)
{
	if (setsockopt(fd, SOL_MQTT, opt, &val, sizeof(val)) < 0) {
		printf("    setsockopt(%s): %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Fill in the broker address: AF_MQTT connects to a plain sockaddr_in(6). */
static socklen_t broker_addr(const struct attempt *a,
			     struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a->addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, a->addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		return sizeof(*sin6);
	}
	return 0;
}

static enum outcome try_connect(int family, const struct attempt *a)
{
	struct sockaddr_storage ss;
	struct mqtt_connack ack;
	socklen_t addrlen, acklen = sizeof(ack);
	enum outcome result = FAILED;
	int fd, err;

	addrlen = broker_addr(a, &ss);
	if (!addrlen) {
		printf("    bad address %s\n", a->addr);
		return FAILED;
	}

	fd = socket(family, SOCK_SEQPACKET, 0);
	if (fd < 0) {
		err = errno;
		printf("    socket(%d, SOCK_SEQPACKET): %s (%s)%s\n", family,
		       strerror(err), errno_name(err),
		       err == EAFNOSUPPORT ? ", is mqtt.ko loaded?" : "");
		goto report;
	}

	if (set_string(fd, MQTT_CLIENT_ID, "MQTT_CLIENT_ID", a->client_id) ||
	    (a->username &&
	     set_string(fd, MQTT_USERNAME, "MQTT_USERNAME", a->username)) ||
	    (a->password &&
	     set_string(fd, MQTT_PASSWORD, "MQTT_PASSWORD", a->password)) ||
	    set_int(fd, MQTT_CONNECT_TIMEOUT, "MQTT_CONNECT_TIMEOUT",
		    CONNECT_MS))
		goto out;

	if (connect(fd, (struct sockaddr *)&ss, addrlen) == 0) {
		result = ACCEPTED;
		printf("    connect():       0\n");
	} else {
		err = errno;
		printf("    connect():       %s (%s)\n", strerror(err),
		       errno_name(err));
	}

	/* Fails with ENOTCONN when no CONNACK arrived (e.g. timeout). */
	if (getsockopt(fd, SOL_MQTT, MQTT_CONNACK, &ack, &acklen) == 0) {
		printf("    CONNACK code:    %u (%s)\n", ack.return_code,
		       connack_text(ack.return_code));
		printf("    session present: %s\n",
		       ack.session_present ? "yes" : "no");
		if (result != ACCEPTED && ack.return_code)
			result = REFUSED;
	} else {
		printf("    CONNACK:         none (%s)\n", strerror(errno));
	}

out:
	close(fd);
report:
	printf("    result:          %s\n", outcome_text[result]);
	return result;
}

/* The payload of one received message, and what the cmsgs say of it. */
static int print_message(int fd)
{
	char payload[256], topic[256], cbuf[CMSG_SPACE(sizeof(topic)) +
					     3 * CMSG_SPACE(sizeof(int))];
	struct iovec iov = { payload, sizeof(payload) - 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct cmsghdr *c;
	int n, qos = -1, retain = -1;

	topic[0] = '\0';
	if (poll(&pfd, 1, CONNECT_MS) != 1) {
		printf("    receive:         nothing within %d ms\n", CONNECT_MS);
		return -1;
	}
	n = recvmsg(fd, &msg, 0);
	if (n < 0) {
		printf("    recvmsg():       %s\n", strerror(errno));
		return -1;
	}
	payload[n] = '\0';
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t len = c->cmsg_len - CMSG_LEN(0);

		if (c->cmsg_level != SOL_MQTT)
			continue;
		if (c->cmsg_type == MQTT_PUBLISH_TOPIC && len < sizeof(topic)) {
			memcpy(topic, CMSG_DATA(c), len);
			topic[len] = '\0';
		} else if (c->cmsg_type == MQTT_PUBLISH_QOS) {
			memcpy(&qos, CMSG_DATA(c), sizeof(qos));
		} else if (c->cmsg_type == MQTT_PUBLISH_RETAIN) {
			memcpy(&retain, CMSG_DATA(c), sizeof(retain));
		}
	}
	printf("    received:        \"%s\" on %s (QoS %d, retain %d)\n",
	       payload, topic, qos, retain);
	return 0;
}

/* The delivery report of the QoS 1 message: ee_errno 0 means PUBACK. */
static int print_report(int fd)
{
	char cbuf[CMSG_SPACE(sizeof(struct sock_extended_err))];
	struct msghdr msg = {
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct pollfd pfd = { .fd = fd, .events = 0 };
	struct sock_extended_err *ee;
	struct cmsghdr *c;

	/* POLLERR is always reported: a report is waiting. */
	if (poll(&pfd, 1, CONNECT_MS) != 1 ||
	    recvmsg(fd, &msg, MSG_ERRQUEUE) < 0) {
		printf("    delivery report: none (%s)\n", strerror(errno));
		return -1;
	}
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_MQTT ||
	    c->cmsg_type != MQTT_DELIVERY_REPORTS) {
		printf("    delivery report: unexpected cmsg\n");
		return -1;
	}
	ee = (struct sock_extended_err *)CMSG_DATA(c);
	printf("    delivery report: messages %u..%u %s\n", ee->ee_info,
	       ee->ee_data, ee->ee_errno ? strerror(ee->ee_errno) :
			    "acknowledged by the broker");
	return ee->ee_errno ? -1 : 0;
}

/* One session: subscribe, publish to ourselves, read it back. */
static bool pub_sub(int family)
{
	static const char filter[] = "demo/#", topic[] = "demo/temperature";
	static const char payload[] = "21.5 C";
	const struct attempt *a = &attempts[0];
	struct {
		struct mqtt_subscription sub;
		char filter[sizeof(filter)];
	} s = { .sub = { .qos = 1, .filter_len = sizeof(filter) - 1 } };
	char cbuf[CMSG_SPACE(sizeof(topic)) + CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)payload, sizeof(payload) - 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct sockaddr_storage ss;
	socklen_t addrlen = broker_addr(a, &ss);
	struct cmsghdr *c;
	bool ok = false;
	int fd, qos = 1;

	fd = socket(family, SOCK_SEQPACKET, 0);
	if (fd < 0 ||
	    set_string(fd, MQTT_CLIENT_ID, "MQTT_CLIENT_ID", "mqtt-demo") ||
	    set_string(fd, MQTT_USERNAME, "MQTT_USERNAME", a->username) ||
	    set_string(fd, MQTT_PASSWORD, "MQTT_PASSWORD", a->password) ||
	    set_int(fd, MQTT_DELIVERY_REPORTS, "MQTT_DELIVERY_REPORTS", 1))
		goto out;
	if (connect(fd, (struct sockaddr *)&ss, addrlen)) {
		printf("    connect():       %s\n", strerror(errno));
		goto out;
	}

	memcpy(s.sub.filter, filter, s.sub.filter_len);
	if (setsockopt(fd, SOL_MQTT, MQTT_SUBSCRIBE, &s,
		       sizeof(s.sub) + s.sub.filter_len)) {
		printf("    subscribe %s:   %s\n", filter, strerror(errno));
		goto out;
	}
	printf("    subscribed:      %s, granted QoS %u\n", filter, s.sub.qos);

	/* Topic and QoS of this one message ride along as cmsgs. */
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_MQTT;
	c->cmsg_type = MQTT_PUBLISH_TOPIC;
	c->cmsg_len = CMSG_LEN(sizeof(topic) - 1);
	memcpy(CMSG_DATA(c), topic, sizeof(topic) - 1);
	c = CMSG_NXTHDR(&msg, c);
	c->cmsg_level = SOL_MQTT;
	c->cmsg_type = MQTT_PUBLISH_QOS;
	c->cmsg_len = CMSG_LEN(sizeof(qos));
	memcpy(CMSG_DATA(c), &qos, sizeof(qos));
	msg.msg_controllen = CMSG_SPACE(sizeof(topic) - 1) +
			     CMSG_SPACE(sizeof(qos));
	if (sendmsg(fd, &msg, 0) < 0) {
		printf("    publish:         %s\n", strerror(errno));
		goto out;
	}
	printf("    published:       \"%s\" on %s (QoS %d)\n", payload, topic,
	       qos);

	ok = !print_message(fd) && !print_report(fd);
out:
	if (fd >= 0)
		close(fd);	/* DISCONNECT: the broker drops the will */
	printf("    result:          %s\n", ok ? "round trip done" : "failed");
	return ok;
}

/*
 * TLS: the TLS sample (mqtt_tls, next to this program) against the
 * broker's listener that wants a client certificate, where the test VM
 * made one (make run exports where).  1 passed, 0 failed, -1 no TLS
 * broker here.
 */
static int tls_demo(void)
{
	const char *dir = getenv("MQTT_TLS_DIR");
	const char *port = getenv("MQTT_BROKER_MTLS_PORT");
	char prog[PATH_MAX], ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
	ssize_t n;
	char *slash;
	int status;
	pid_t pid;

	if (!dir || !port) {
		printf("no TLS broker (MQTT_TLS_DIR, MQTT_BROKER_MTLS_PORT)\n");
		return -1;
	}
	n = readlink("/proc/self/exe", prog, sizeof(prog) - sizeof("mqtt_tls"));
	if (n < 0)
		return 0;
	prog[n] = 0;
	slash = strrchr(prog, '/');
	if (!slash)
		return 0;
	strcpy(slash + 1, "mqtt_tls");
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(crt, sizeof(crt), "%s/client.crt", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(prog, prog, "-a", "127.0.0.1", "-p", port, "-C", ca,
		      "-n", "localhost", "-c", crt, "-k", key, "-t", "demo/tls",
		      "-m", "hello over TLS", (char *)NULL);
		perror(prog);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && !WEXITSTATUS(status);
}

int main(void)
{
	int family = mqtt_family();
	enum outcome res[ARRAY_SIZE(attempts)];
	bool pass;
	size_t i;
	int tls;

	printf("AF_MQTT demo: socket family %d%s\n", family,
	       family == AF_MQTT ? "" : " (moved by the module parameter)");

	for (i = 0; i < ARRAY_SIZE(attempts); i++) {
		const struct attempt *a = &attempts[i];
		bool v6 = strchr(a->addr, ':');

		printf("\n[%zu] %s%s%s:%u, %s\n", i + 1, v6 ? "[" : "",
		       a->addr, v6 ? "]" : "", a->port, a->title);
		res[i] = try_connect(family, a);
	}

	printf("\n[%zu] 127.0.0.1:1884, publish and subscribe in one session\n",
	       i + 1);
	pass = pub_sub(family);

	printf("\n[%zu] TLS 1.3 over kTLS with a client certificate "
	       "(samples/mqtt/mqtt_tls.c)\n", i + 2);
	tls = tls_demo();

	pass = pass && res[0] == ACCEPTED && res[1] == REFUSED && tls;
	printf("\nright password: %s; wrong password: %s; round trip: %s; "
	       "TLS: %s => %s\n",
	       outcome_text[res[0]], outcome_text[res[1]],
	       pass ? "done" : "-",
	       tls > 0 ? "done" : tls < 0 ? "no TLS broker" : "failed",
	       pass ? "PASS" : "FAIL");

	return pass ? EXIT_SUCCESS : EXIT_FAILURE;
}
