/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel interfaces that changed between the kernels mqtt.ko builds for
 * (Debian's, from bookworm's 6.1 up).  This is the one place that knows:
 * the rest of net/mqtt is written against the newest interface, and for
 * an older kernel this header maps it back.
 *
 * Each entry is decided by a MQTT_HAVE_* flag that Kbuild sets by probing
 * the headers of the kernel built for, not by LINUX_VERSION_CODE:
 * distributions backport (Debian's 6.12.118 has 6.17's WQ_PERCPU).  Keep
 * each entry naming the release that changed, and its probe in Kbuild.
 * Helpers here are static inline or macros, so they add no calls between
 * net/mqtt's files (tools/check-layers.sh).
 */
#ifndef _NET_MQTT_COMPAT_H
#define _NET_MQTT_COMPAT_H

/* 6.12 moved <asm/unaligned.h> to <linux/unaligned.h>. */
#ifdef MQTT_HAVE_LINUX_UNALIGNED_H
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/* 6.16 renamed from_timer() to timer_container_of(). */
#ifndef MQTT_HAVE_TIMER_CONTAINER_OF
#define timer_container_of(var, callback_timer, timer_fieldname) \
	from_timer(var, callback_timer, timer_fieldname)
#endif

/* After 6.18 (7.2 is the first of Debian's kernels with it),
 * proto_ops->connect and kernel_connect() take a
 * struct sockaddr_unsized *: the address's size is the length argument,
 * not the type's.  Before, both took a struct sockaddr *.
 */
#ifndef MQTT_HAVE_SOCKADDR_UNSIZED
#define sockaddr_unsized sockaddr
#endif

/* 6.17 added WQ_PERCPU, the explicit form of a per-CPU workqueue, before
 * making unbound the default; 7.2 warns about a workqueue with neither
 * WQ_PERCPU nor WQ_UNBOUND.  Before, per-CPU was what no flag meant.
 */
#ifndef MQTT_HAVE_WQ_PERCPU
#define WQ_PERCPU 0
#endif

#endif /* _NET_MQTT_COMPAT_H */
