// SPDX-License-Identifier: GPL-2.0
/*
 * mqtt_tls - MQTT over TLS through an AF_MQTT socket.
 *
 * The TLS handshake is done in user space with OpenSSL, the records by
 * the kernel (kTLS), the MQTT session by AF_MQTT:
 *
 *   1. socket(AF_MQTT, SOCK_SEQPACKET, 0) and its session options;
 *   2. a TCP connection to the broker, the TLS handshake, and kTLS TX and
 *      RX on the TCP socket (ktls_connect() of ktls_openssl.h);
 *   3. setsockopt(SOL_MQTT, MQTT_TRANSPORT_FD) hands the TCP socket to
 *      AF_MQTT, which keeps its own reference: close ours;
 *   4. connect(fd, NULL, 0) sends CONNECT over that socket and returns
 *      with the CONNACK; from there on it is an ordinary AF_MQTT session.
 *
 * It subscribes to a topic, publishes one QoS 1 message to it and
 * receives it back through the broker.
 *
 *   mqtt_tls [-a host] [-p port] [-C cafile] [-n servername]
 *            [-c certfile [-k keyfile]] [-2] [-i client-id]
 *            [-t topic] [-m message]
 *
 * -a the broker (default localhost), -p its port (8883), -C the CAs to
 * verify it with (default Debian's bundle), -n the name its certificate
 * must have (default: the host), -c/-k a client certificate and its key,
 * -2 TLS 1.2 only (default: 1.3 preferred, 1.2 accepted).
 *
 * Exit status: 0 if the message made the round trip, 1 otherwise.
 *
 * Build: make -C samples/mqtt (links -lssl -lcrypto).
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/mqtt.h>

#include "ktls_openssl.h"
#include "mqtt_family.h"

#define DEFAULT_CA	"/etc/ssl/certs/ca-certificates.crt"
#define TIMEOUT_MS	10000

static void print_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-a host] [-p port] [-C cafile] [-n servername]\n"
		"       [-c certfile [-k keyfile]] [-2] [-i client-id]\n"
		"       [-t topic] [-m message]\n", prog);
	exit(EXIT_FAILURE);
}

static int set_opt(int fd, int opt, const char *name, const void *val,
		   socklen_t len)
{
	if (setsockopt(fd, SOL_MQTT, opt, val, len) < 0) {
		printf("    setsockopt(%s): %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

/* How the session ended, if a TLS alert ended it. */
static void print_alert(int fd)
{
	socklen_t len;
	int alert;

	len = sizeof(alert);
	if (getsockopt(fd, SOL_MQTT, MQTT_TLS_ALERT, &alert, &len) == 0)
		printf("    TLS alert:       %s %s (%d)\n",
		       alert >> 8 == KTLS_ALERT_FATAL ? "fatal" : "warning",
		       ktls_alert_name(alert & 0xff), alert & 0xff);
	else if (errno != ENODATA)
		printf("    TLS alert:       getsockopt: %s\n",
		       strerror(errno));
}

/* The broker's CONNACK, when connect() failed. */
static void print_connack(int fd)
{
	struct mqtt_connack ack;
	socklen_t len = sizeof(ack);

	if (getsockopt(fd, SOL_MQTT, MQTT_CONNACK, &ack, &len) == 0)
		printf("    CONNACK code:    %u\n", ack.return_code);
	else
		printf("    CONNACK:         none (%s)\n", strerror(errno));
}

static int subscribe_to(int fd, const char *filter)
{
	size_t flen = strlen(filter);
	struct mqtt_subscription *sub = calloc(1, sizeof(*sub) + flen);
	int ret = -1;

	if (!sub) {
		printf("    subscribe:       %s\n", strerror(errno));
		return -1;
	}
	sub->qos = 1;
	sub->filter_len = flen;
	memcpy(sub->filter, filter, flen);
	if (setsockopt(fd, SOL_MQTT, MQTT_SUBSCRIBE, sub,
		       sizeof(*sub) + flen) == 0) {
		printf("    subscribed:      %s, granted QoS %u\n", filter,
		       sub->qos);
		ret = 0;
	} else {
		printf("    subscribe %s: %s\n", filter, strerror(errno));
	}
	free(sub);
	return ret;
}

/* Receive messages, one per call, until ours comes back: 0 or -1. */
static int receive_own(int fd, const char *topic,
		       const char *message)
{
	char payload[4096], name[1024];
	char cbuf[CMSG_SPACE(sizeof(name)) + 3 * CMSG_SPACE(sizeof(int))];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int i;

	for (i = 0; i < 16; i++) {
		struct iovec iov = { payload, sizeof(payload) - 1 };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *c;
		ssize_t n;
		int qos = -1;

		if (poll(&pfd, 1, TIMEOUT_MS) != 1) {
			printf("    receive:         nothing within %d ms\n",
			       TIMEOUT_MS);
			return -1;
		}
		n = recvmsg(fd, &msg, 0);
		if (n < 0) {
			printf("    recvmsg():       %s\n", strerror(errno));
			print_alert(fd);
			return -1;
		}
		payload[n] = '\0';
		name[0] = '\0';
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			size_t len = c->cmsg_len - CMSG_LEN(0);

			if (c->cmsg_level != SOL_MQTT)
				continue;
			if (c->cmsg_type == MQTT_PUBLISH_TOPIC &&
			    len < sizeof(name)) {
				memcpy(name, CMSG_DATA(c), len);
				name[len] = '\0';
			} else if (c->cmsg_type == MQTT_PUBLISH_QOS) {
				memcpy(&qos, CMSG_DATA(c), sizeof(qos));
			}
		}
		printf("    received:        \"%s\" on %s (QoS %d)\n", payload,
		       name, qos);
		if (!strcmp(name, topic) && !strcmp(payload, message))
			return 0;
	}
	printf("    receive:         not our message\n");
	return -1;
}

int main(int argc, char **argv)
{
	const char *host = "localhost", *port = "8883", *name = NULL;
	const char *topic = "demo/tls", *message = "hello over kTLS";
	char client_id[64], err[512];
	struct ktls_opts o = { .ca_file = DEFAULT_CA };
	int family, fd, tcp, opt, qos = 1, timeout = TIMEOUT_MS;
	bool pass = false;
	SSL *ssl;

	snprintf(client_id, sizeof(client_id), "mqtt-tls-%d", (int)getpid());
	while ((opt = getopt(argc, argv, "a:p:C:n:c:k:2i:t:m:h")) != -1) {
		switch (opt) {
		case 'a':
			host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'C':
			o.ca_file = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'c':
			o.cert_file = optarg;
			break;
		case 'k':
			o.key_file = optarg;
			break;
		case '2':
			o.max_version = TLS1_2_VERSION;
			break;
		case 'i':
			snprintf(client_id, sizeof(client_id), "%s", optarg);
			break;
		case 't':
			topic = optarg;
			break;
		case 'm':
			message = optarg;
			break;
		default:
			print_usage(argv[0]);
		}
	}
	if (optind != argc || (o.key_file && !o.cert_file))
		print_usage(argv[0]);
	o.peer_name = name ? name : host;
	o.min_version = TLS1_2_VERSION;

	/* A peer closing during the handshake must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	family = mqtt_family();
	printf("AF_MQTT over TLS: socket family %d, broker %s port %s\n",
	       family, host, port);

	/* The AF_MQTT socket first: no TLS session for a missing module. */
	fd = socket(family, SOCK_SEQPACKET, 0);
	if (fd < 0) {
		printf("    socket(%d, SOCK_SEQPACKET): %s%s\n", family,
		       strerror(errno),
		       errno == EAFNOSUPPORT ? ", is mqtt.ko loaded?" : "");
		goto out;
	}
	if (set_opt(fd, MQTT_CLIENT_ID, "MQTT_CLIENT_ID", client_id,
		    strlen(client_id)) ||
	    set_opt(fd, MQTT_CONNECT_TIMEOUT, "MQTT_CONNECT_TIMEOUT",
		    &timeout, sizeof(timeout)))
		goto out;

	/* TCP, the handshake, kTLS TX and RX. */
	tcp = ktls_connect(host, port, &o, &ssl, err, sizeof(err));
	if (tcp < 0) {
		printf("    TLS:             %s (%s)\n", err, strerror(errno));
		goto out;
	}
	printf("    TLS:             %s, %s, kTLS TX and RX\n",
	       SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	ktls_ssl_free(ssl);	/* the records are the kernel's now */

	/* AF_MQTT holds its own reference to the TCP socket. */
	if (set_opt(fd, MQTT_TRANSPORT_FD, "MQTT_TRANSPORT_FD", &tcp,
		    sizeof(tcp))) {
		close(tcp);
		goto out;
	}
	close(tcp);

	if (connect(fd, NULL, 0)) {
		printf("    connect():       %s\n", strerror(errno));
		print_connack(fd);
		print_alert(fd);
		goto out;
	}
	printf("    connect():       0 (CONNACK 0, over kTLS)\n");

	if (subscribe_to(fd, topic))
		goto out;

	/* send(): the topic and QoS are the socket's defaults. */
	if (set_opt(fd, MQTT_PUBLISH_TOPIC, "MQTT_PUBLISH_TOPIC", topic,
		    strlen(topic)) ||
	    set_opt(fd, MQTT_PUBLISH_QOS, "MQTT_PUBLISH_QOS", &qos,
		    sizeof(qos)))
		goto out;
	if (send(fd, message, strlen(message), 0) < 0) {
		printf("    send():          %s\n", strerror(errno));
		print_alert(fd);
		goto out;
	}
	printf("    published:       \"%s\" on %s (QoS %d)\n", message, topic,
	       qos);

	pass = !receive_own(fd, topic, message);
out:
	if (fd >= 0)
		close(fd);	/* DISCONNECT */
	printf("round trip over TLS: %s => %s\n", pass ? "done" : "failed",
	       pass ? "PASS" : "FAIL");
	return pass ? EXIT_SUCCESS : EXIT_FAILURE;
}
