/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MQTT 3.1.1 wire format: packet types, header bits and field sizes.
 *
 * Constants only, so that the codec that uses them also builds in user
 * space (fuzzing, unit tests).  Values user space sees too (protocol
 * levels, CONNACK codes, the field limit) live in the user API header.
 * Section numbers refer to the OASIS MQTT 3.1.1 standard.
 */
#ifndef _NET_MQTT_H
#define _NET_MQTT_H

#include <linux/mqtt.h>

/* Control packet types, fixed header byte 1 bits 7-4 (2.2.1). */
#define MQTT_PKT_CONNECT	1
#define MQTT_PKT_CONNACK	2
#define MQTT_PKT_PUBLISH	3
#define MQTT_PKT_PUBACK		4
#define MQTT_PKT_PUBREC		5
#define MQTT_PKT_PUBREL		6
#define MQTT_PKT_PUBCOMP	7
#define MQTT_PKT_SUBSCRIBE	8
#define MQTT_PKT_SUBACK		9
#define MQTT_PKT_UNSUBSCRIBE	10
#define MQTT_PKT_UNSUBACK	11
#define MQTT_PKT_PINGREQ	12
#define MQTT_PKT_PINGRESP	13
#define MQTT_PKT_DISCONNECT	14

/* Fixed header byte 1: type in the high nibble, flags in the low one. */
#define MQTT_HDR_TYPE_SHIFT	4
#define MQTT_HDR_FLAGS_MASK	0x0f
#define MQTT_HDR(type, flags)	(((type) << MQTT_HDR_TYPE_SHIFT) | (flags))

/* Remaining Length: 7 bits a byte, high bit = more bytes follow (2.2.3). */
#define MQTT_REMLEN_CONTINUE	0x80
#define MQTT_REMLEN_DIGIT_MASK	0x7f
#define MQTT_REMLEN_DIGIT_BITS	7
#define MQTT_REMLEN_MAX_BYTES	4
#define MQTT_REMLEN_MAX		268435455
/* Type byte plus the longest Remaining Length. */
#define MQTT_FIXED_HDR_MAX	(1 + MQTT_REMLEN_MAX_BYTES)

/* Strings and binary fields carry a 2-byte big-endian length (1.5.3). */
#define MQTT_LEN_PREFIX		2

/* CONNECT variable header (3.1.2). */
#define MQTT_PROTO_NAME_V311	"MQTT"
#define MQTT_PROTO_NAME_V31	"MQIsdp"
#define MQTT_CONNECT_F_USERNAME		0x80
#define MQTT_CONNECT_F_PASSWORD		0x40
#define MQTT_CONNECT_F_WILL_RETAIN	0x20
#define MQTT_CONNECT_WILL_QOS_SHIFT	3
#define MQTT_CONNECT_F_WILL		0x04
#define MQTT_CONNECT_F_CLEAN_SESSION	0x02
/* Level byte, flags byte and keepalive after the protocol name. */
#define MQTT_CONNECT_VHDR_TAIL	4

/* CONNACK (3.2): exactly two bytes after the fixed header. */
#define MQTT_CONNACK_REMLEN	2
#define MQTT_CONNACK_F_SESSION_PRESENT	0x01
#define MQTT_CONNACK_SIZE	(2 + MQTT_CONNACK_REMLEN)

/* Packets that are a fixed header alone: PINGREQ, PINGRESP, DISCONNECT. */
#define MQTT_EMPTY_PKT_SIZE	2

/* PUBLISH fixed header flags (3.3.1). */
#define MQTT_PUBLISH_F_RETAIN	0x01
#define MQTT_PUBLISH_QOS_SHIFT	1
#define MQTT_PUBLISH_QOS_MASK	0x06
#define MQTT_PUBLISH_F_DUP	0x08

/* Flags of PUBREL, SUBSCRIBE and UNSUBSCRIBE [MQTT-3.6.1-1], [MQTT-3.8.1-1]. */
#define MQTT_HDR_F_RESERVED_0010	0x02

/* Packet identifiers are 16 bits and never 0 (2.3.1). */
#define MQTT_PID_SIZE		2
#define MQTT_PID_MAX		65535

/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a packet identifier alone. */
#define MQTT_ACK_REMLEN		MQTT_PID_SIZE
#define MQTT_ACK_SIZE		(2 + MQTT_ACK_REMLEN)

/* SUBACK return codes (3.9.3); one per filter, and we send one filter. */
#define MQTT_SUBACK_FAILURE	0x80
#define MQTT_SUBACK_REMLEN	(MQTT_PID_SIZE + 1)

#define MQTT_QOS_MAX		2

/* Topic wildcards and separator (4.7.1). */
#define MQTT_TOPIC_SEP		'/'
#define MQTT_TOPIC_WILD_ONE	'+'
#define MQTT_TOPIC_WILD_ALL	'#'

#endif /* _NET_MQTT_H */
