/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * AF_MQTT: an MQTT 3.1.1 client socket family.
 *
 * User space opens socket(AF_MQTT, SOCK_SEQPACKET, 0), configures the
 * session with setsockopt(SOL_MQTT, ...) and calls connect() with the
 * broker's sockaddr_in or sockaddr_in6.  See
 * Documentation/networking/mqtt.rst for the full interface.
 */
#ifndef _UAPI_LINUX_MQTT_H
#define _UAPI_LINUX_MQTT_H

#include <linux/types.h>

/*
 * Address family.  Mainline assigns no number to MQTT, so the module reuses
 * 22 (AF_SNA, retired and registered by no kernel since 2.x).  The module
 * parameter "family" can move it; /sys/module/mqtt/parameters/family shows
 * the value in use.
 */
#define AF_MQTT			22
#define PF_MQTT			AF_MQTT

/* Option level, above the kernel's own SOL_* numbers. */
#define SOL_MQTT		300

/*
 * setsockopt()/getsockopt() option names at SOL_MQTT.
 *
 * Options 1..11 and MQTT_TRANSPORT_FD configure the next connect and can
 * be set only before connect() (EISCONN afterwards).  The others can be
 * set at any time.
 */
#define MQTT_CLIENT_ID		1	/* UTF-8, 0..65535 bytes; empty: broker assigns */
#define MQTT_USERNAME		2	/* UTF-8, 0..65535 bytes; absent until set */
#define MQTT_PASSWORD		3	/* binary, 0..65535 bytes; write-only */
#define MQTT_KEEPALIVE		4	/* int seconds, 0..65535 (0: off); default 60 */
#define MQTT_CLEAN_SESSION	5	/* int 0 or 1; default 1 */
#define MQTT_WILL_TOPIC		6	/* UTF-8 topic name, 1..65535 bytes, no wildcards */
#define MQTT_WILL_MESSAGE	7	/* binary, 0..65535 bytes */
#define MQTT_WILL_QOS		8	/* int 0..2; default 0 */
#define MQTT_WILL_RETAIN	9	/* int 0 or 1; default 0 */
#define MQTT_PROTOCOL_LEVEL	10	/* int MQTT_PROTOCOL_V311 (default) or _V31 */
#define MQTT_CONNECT_TIMEOUT	11	/* int ms bounding the whole connect; default 30000 */
#define MQTT_CONNACK		12	/* read-only: struct mqtt_connack */
#define MQTT_PUBLISH_TOPIC	13	/* default topic of send()/write(); also a cmsg */
#define MQTT_PUBLISH_QOS	14	/* int 0..2, default QoS of sends; also a cmsg */
#define MQTT_PUBLISH_RETAIN	15	/* int 0/1, default retain of sends; also a cmsg */
#define MQTT_PUBLISH_DUP	16	/* cmsg only, on receive: int DUP flag */
#define MQTT_INFLIGHT_MAX	17	/* int 1..65535: QoS 1/2 send window; default 64 */
#define MQTT_INFLIGHT		18	/* read-only int: QoS 1/2 messages unacknowledged */
#define MQTT_DELIVERY_REPORTS	19	/* int 0/1: QoS 1/2 outcomes on the error queue */
#define MQTT_SUBSCRIBE		20	/* write-only: struct mqtt_subscription */
#define MQTT_UNSUBSCRIBE	21	/* write-only: topic filter bytes */
#define MQTT_ACK_TIMEOUT	22	/* int ms bounding (UN)SUBSCRIBE waits; default 30000 */
#define MQTT_RECV_MAX		23	/* int bytes: largest packet accepted; default 2 MiB */
#define MQTT_TRANSPORT_FD	24	/* write-only int: a connected TCP socket, -1 none */
#define MQTT_TLS_ALERT		25	/* read-only int: last TLS alert, level << 8 | desc */

/* Values of MQTT_PROTOCOL_LEVEL. */
#define MQTT_PROTOCOL_V31	3	/* MQTT 3.1, protocol name "MQIsdp" */
#define MQTT_PROTOCOL_V311	4	/* MQTT 3.1.1, protocol name "MQTT" */

/* Largest string or binary field MQTT can carry. */
#define MQTT_MAX_FIELD_LEN	65535

/* CONNACK return codes (MQTT 3.1.1 section 3.2.2.3); 6..255 are reserved. */
#define MQTT_CONNACK_ACCEPTED			0
#define MQTT_CONNACK_UNACCEPTABLE_PROTOCOL	1
#define MQTT_CONNACK_IDENTIFIER_REJECTED	2
#define MQTT_CONNACK_SERVER_UNAVAILABLE		3
#define MQTT_CONNACK_BAD_USERNAME_OR_PASSWORD	4
#define MQTT_CONNACK_NOT_AUTHORIZED		5

/* getsockopt(SOL_MQTT, MQTT_CONNACK): the broker's answer to CONNECT. */
struct mqtt_connack {
	__u8	session_present;	/* 0 or 1 */
	__u8	return_code;		/* MQTT_CONNACK_* or a reserved code */
	__u16	reserved;		/* always 0 */
};

/*
 * setsockopt(SOL_MQTT, MQTT_SUBSCRIBE): subscribe to one topic filter and
 * wait for the SUBACK.  On success @qos is overwritten with the QoS the
 * broker granted; a refusal (SUBACK 0x80) fails with EACCES.
 */
struct mqtt_subscription {
	__u8	qos;		/* in: requested QoS 0..2; out: granted QoS */
	__u8	reserved;	/* must be 0 */
	__u16	filter_len;	/* bytes in filter, 1..65535 */
	char	filter[];	/* the topic filter, no terminating NUL */
};

/*
 * Delivery reports (MQTT_DELIVERY_REPORTS): every QoS 1/2 message a
 * send() accepted gets the next number of a per-socket counter starting
 * at 0.  recvmsg(MSG_ERRQUEUE) returns a cmsg (SOL_MQTT,
 * MQTT_DELIVERY_REPORTS) holding a struct sock_extended_err with
 * ee_origin SO_EE_ORIGIN_MQTT, ee_info..ee_data the first and last
 * numbers of a range of messages with the same outcome, and ee_errno 0
 * when the broker acknowledged them (PUBACK, or PUBCOMP for QoS 2) or the
 * errno of the session's end when they were lost.
 */
#define SO_EE_ORIGIN_MQTT	64

#endif /* _UAPI_LINUX_MQTT_H */
