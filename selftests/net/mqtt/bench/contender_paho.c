// SPDX-License-Identifier: GPL-2.0
/*
 * mqtt_bench contender: Eclipse Paho C 1.3 (Debian 12's libpaho-mqtt 1.3.12
 * package; the library reports 1.3.11), synchronous MQTTClient API.
 *
 * The API has two modes.  Without callbacks ("synchronous mode") the
 * calling thread runs the library's network loop inside each blocking
 * call.  MQTTClient_setCallbacks() switches a client to "asynchronous
 * mode": one library thread (MQTTClient_run, shared by every client of
 * the process) reads the sockets, answers keepalive and calls the
 * callbacks, while the application thread still publishes itself.
 * Whenever a call has to wait inside the library (publish with the
 * in-flight window full or after a partial write,
 * MQTTClient_waitForCompletion()) it goes through MQTTClient_yield(), which
 * runs the network loop (synchronous mode) or sleeps (asynchronous mode)
 * for a fixed 100 ms, however early the awaited event comes.  A QoS 1 flow
 * paced by the library that way moves one window of 64 per 100 ms (2,000
 * messages in 3.2 s on the test host, against 20,000 in 1.0 s as below),
 * so a performance-conscious user keeps the library from ever waiting:
 *
 *  connect_once  MQTTClient_create(), MQTTClient_connect() in synchronous
 *                mode, MQTTClient_disconnect(0), MQTTClient_destroy().
 *                Each cycle takes 100 ms: after the non-blocking TCP
 *                connect the library polls the socket for input with its
 *                loop's 100 ms timeout before it notices that the connect
 *                has completed, and only then sends CONNECT.  Asynchronous
 *                mode is no way out: its first connect starts the library
 *                thread and sleeps 100 ms, and that thread polls with 1 s.
 *  connect_many  none: the API has no non-blocking connect.
 *  publish       asynchronous mode, MQTTClient_publishMessage() in a loop;
 *                it returns once the PUBLISH is with the kernel (it
 *                finishes a partial write before returning).  QoS 1:
 *                maxInflightMessages 64, deliveryComplete counts PUBACKs
 *                and the application itself waits on a condition variable
 *                while 64 are unacknowledged, so the library's own window
 *                check never blocks; the measurement ends with the last
 *                deliveryComplete.  QoS 0 in asynchronous mode too: when
 *                the socket is full, the library thread completes the
 *                write while publish sleeps 100 ms once, where synchronous
 *                mode loses 200 ms (measured; with 16-byte payloads, which
 *                rarely fill the socket, both modes are within noise).
 *  receive       synchronous mode, MQTTClient_receive() in a loop: the
 *                API's single-threaded subscriber; it sends each QoS 1
 *                PUBACK before returning the message.  Measured cheaper
 *                than a messageArrived callback on the library thread.
 *  idle          asynchronous mode on all @n clients: the library thread
 *                sends the PINGREQs, the main thread sleeps; then
 *                MQTTClient_isConnected() on each.  The library checks
 *                keepalive about once a second (its thread's 1 s poll), so
 *                with a 1 s keepalive a PINGREQ can come nearly 2 s after
 *                the last packet, past the broker's 1.5 s grace: some
 *                sessions are dropped now and then (-ENOTCONN).
 *  hold          none: memory is compared on the kernel side only.
 *
 * Every client uses MQTTCLIENT_PERSISTENCE_NONE and MQTT 3.1.1 only
 * (MQTTVERSION_3_1_1, no fallback to 3.1).  The API has no TCP_NODELAY
 * option and never hands out its socket, so Nagle stays on here, where
 * the other contenders turn it off for publish and receive.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTClient.h>

#include "bench.h"

#define PA_KEEPALIVE	60	/* s, unless the figure says otherwise */
#define PA_WINDOW	64	/* QoS 1 messages unacknowledged at most */
#define PA_STALL_MS	30000	/* ms without progress: give up */
#define PA_RECEIVE_MS	1000	/* MQTTClient_receive() timeout */

/* What the library thread reports to the application (async mode). */
struct pa_flow {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;		/* deliveryComplete calls */
	int lost;		/* connectionLost calls */
	int waiting;		/* the application sleeps on cond */
	int last_token;		/* newest QoS 1 token delivered */
};

/* Print why a Paho call failed; return it as a negative errno. */
static int pa_err(const char *what, int rc)
{
	if (rc > 0) {
		fprintf(stderr, "paho: %s: CONNACK return code %d\n", what, rc);
		return -ECONNREFUSED;
	}
	fprintf(stderr, "paho: %s: %s\n", what, MQTTClient_strerror(rc));
	switch (rc) {
	case MQTTCLIENT_DISCONNECTED:
		return -ENOTCONN;
	case MQTTCLIENT_NULL_PARAMETER:
	case MQTTCLIENT_BAD_UTF8_STRING:
	case MQTTCLIENT_BAD_STRUCTURE:
	case MQTTCLIENT_BAD_QOS:
	case MQTTCLIENT_BAD_MQTT_VERSION:
	case MQTTCLIENT_BAD_PROTOCOL:
	case MQTTCLIENT_BAD_MQTT_OPTION:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int pa_flow_init(struct pa_flow *f)
{
	pthread_condattr_t attr;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = pthread_condattr_init(&attr);
	if (!rc)
		rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(&f->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!rc)
		rc = pthread_mutex_init(&f->lock, NULL);
	if (rc) {
		fprintf(stderr, "paho: pthread init: %s\n", strerror(rc));
		return -rc;
	}
	return 0;
}

static void pa_flow_destroy(struct pa_flow *f)
{
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
}

/* deliveryComplete: a PUBACK is in (called on the library thread). */
static void pa_delivered(void *context, MQTTClient_deliveryToken dt)
{
	struct pa_flow *f = context;

	pthread_mutex_lock(&f->lock);
	f->done++;
	if (dt > 0)
		f->last_token = dt;
	if (f->waiting)
		pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static void pa_lost(void *context, char *cause)
{
	struct pa_flow *f = context;

	(void)cause;
	pthread_mutex_lock(&f->lock);
	f->lost++;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Required by MQTTClient_setCallbacks(); no figure in that mode gets one. */
static int pa_arrived(void *context, char *topic, int topic_len,
		      MQTTClient_message *msg)
{
	(void)context;
	(void)topic_len;
	MQTTClient_freeMessage(&msg);
	MQTTClient_free(topic);
	return 1;
}

/*
 * Wait until at most @max of the @sent messages are unacknowledged.  Gives
 * up when the connection is lost or no PUBACK came for PA_STALL_MS.
 */
static int pa_flow_wait(struct pa_flow *f, int sent, int max)
{
	struct timespec deadline;
	int rc = 0, err = 0;

	pthread_mutex_lock(&f->lock);
	while (sent - f->done > max && !f->lost && rc != ETIMEDOUT) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += PA_STALL_MS / 1000;
		f->waiting = 1;
		rc = pthread_cond_timedwait(&f->cond, &f->lock, &deadline);
		f->waiting = 0;
	}
	if (f->lost) {
		fprintf(stderr, "paho: connection lost, %d unacknowledged\n",
			sent - f->done);
		err = -ENOTCONN;
	} else if (sent - f->done > max) {
		fprintf(stderr, "paho: no PUBACK for %d ms, %d outstanding\n",
			PA_STALL_MS, sent - f->done);
		err = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&f->lock);
	return err;
}

/*
 * Create client @i of this run and connect it, with callbacks on @f
 * (asynchronous mode) or without them when @f is NULL.
 */
static int pa_open(struct bench_ctx *ctx, MQTTClient *c, unsigned int i,
		   int keepalive, struct pa_flow *f)
{
	MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
	char host[INET_ADDRSTRLEN], uri[64], id[64];
	int rc;

	/* libpaho-mqtt3c is Paho's build without TLS (that is -mqtt3cs). */
	if (ctx->tls)
		return -EOPNOTSUPP;
	inet_ntop(AF_INET, &ctx->broker.sin_addr, host, sizeof(host));
	snprintf(uri, sizeof(uri), "tcp://%s:%d", host,
		 ntohs(ctx->broker.sin_port));
	bench_client_id(ctx, i, id, sizeof(id));
	rc = MQTTClient_create(c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
	if (rc != MQTTCLIENT_SUCCESS)
		return pa_err("MQTTClient_create", rc);
	if (f) {
		rc = MQTTClient_setCallbacks(*c, f, pa_lost, pa_arrived,
					     pa_delivered);
		if (rc != MQTTCLIENT_SUCCESS)
			return pa_err("MQTTClient_setCallbacks", rc);
	}
	opts.keepAliveInterval = keepalive;
	opts.cleansession = 1;
	opts.reliable = 0;	/* else one message in flight at a time */
	opts.maxInflightMessages = PA_WINDOW;
	opts.MQTTVersion = MQTTVERSION_3_1_1;
	rc = MQTTClient_connect(*c, &opts);
	if (rc == MQTTCLIENT_FAILURE) {
		/* All the API says: the TCP connect or the CONNACK failed. */
		fprintf(stderr, "paho: MQTTClient_connect: no connection\n");
		return -ECONNREFUSED;
	}
	if (rc != MQTTCLIENT_SUCCESS)
		return pa_err("MQTTClient_connect", rc);
	return 0;
}

/* DISCONNECT if connected, then free the client. */
static void pa_close(MQTTClient *c)
{
	if (!*c)
		return;
	if (MQTTClient_isConnected(*c))
		MQTTClient_disconnect(*c, 0);
	MQTTClient_destroy(c);
}

static int pa_connect_once(struct bench_ctx *ctx, unsigned int seq)
{
	MQTTClient c = NULL;
	int err;

	err = pa_open(ctx, &c, seq, PA_KEEPALIVE, NULL);
	pa_close(&c);
	return err;
}

/*
 * The QoS 0 figure's fence (see bench.h): one QoS 1 message, waited for
 * through the same deliveryComplete callback as the QoS 1 figure.
 */
static int pa_fence(MQTTClient c, struct bench_ctx *ctx,
		    MQTTClient_message *msg, struct pa_flow *f)
{
	MQTTClient_deliveryToken dt;
	struct timespec deadline;
	int rc, err = 0;

	msg->qos = 1;
	rc = MQTTClient_publishMessage(c, ctx->topic, msg, &dt);
	msg->qos = 0;
	if (rc != MQTTCLIENT_SUCCESS)
		return pa_err("MQTTClient_publishMessage", rc);
	pthread_mutex_lock(&f->lock);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += PA_STALL_MS / 1000;
	while (f->last_token != dt && !f->lost && !err) {
		f->waiting = 1;
		if (pthread_cond_timedwait(&f->cond, &f->lock, &deadline))
			err = -ETIMEDOUT;
		f->waiting = 0;
	}
	if (f->lost)
		err = -ENOTCONN;
	pthread_mutex_unlock(&f->lock);
	if (err)
		fprintf(stderr, "paho: fence: %s\n", strerror(-err));
	return err;
}

static int pa_publish(struct bench_ctx *ctx, int qos, size_t len, int n)
{
	static unsigned char payload[BENCH_MAX_PAYLOAD];
	MQTTClient_message msg = MQTTClient_message_initializer;
	MQTTClient c = NULL;
	struct pa_flow f;
	int sent, rc, err;

	if (len > BENCH_MAX_PAYLOAD || qos < 0 || qos > 1) {
		fprintf(stderr, "paho: publish: bad arguments\n");
		return -EINVAL;
	}
	memset(payload, BENCH_PAYLOAD_BYTE, len);
	msg.payload = payload;
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = 0;
	err = pa_flow_init(&f);
	if (err)
		return err;
	err = pa_open(ctx, &c, 0, PA_KEEPALIVE, &f);
	if (err)
		goto out;

	bench_start(ctx);
	for (sent = 0; sent < n; sent++) {
		if (qos) {
			err = pa_flow_wait(&f, sent, PA_WINDOW - 1);
			if (err)
				goto out;
		}
		rc = MQTTClient_publishMessage(c, ctx->topic, &msg, NULL);
		if (rc != MQTTCLIENT_SUCCESS) {
			err = pa_err("MQTTClient_publishMessage", rc);
			goto out;
		}
	}
	if (qos)
		err = pa_flow_wait(&f, n, 0);
	else
		err = pa_fence(c, ctx, &msg, &f);
	if (err)
		goto out;
	bench_stop(ctx);
out:
	pa_close(&c);
	pa_flow_destroy(&f);
	return err;
}

static int pa_receive(struct bench_ctx *ctx, int qos, size_t len, int n)
{
	MQTTClient_message *msg;
	int got = 0, bad = 0, waited = 0, topic_len, rc, err;
	MQTTClient c = NULL;
	char *topic;

	err = pa_open(ctx, &c, 0, PA_KEEPALIVE, NULL);
	if (err)
		goto out;
	rc = MQTTClient_subscribe(c, ctx->topic, qos);
	if (rc != MQTTCLIENT_SUCCESS) {
		if (rc == MQTT_BAD_SUBSCRIBE) {
			fprintf(stderr, "paho: SUBACK refused the topic\n");
			err = -EPROTO;
		} else {
			err = pa_err("MQTTClient_subscribe", rc);
		}
		goto out;
	}

	bench_ready(ctx);
	while (got < n) {
		msg = NULL;
		topic = NULL;
		rc = MQTTClient_receive(c, &topic, &topic_len, &msg,
					PA_RECEIVE_MS);
		if (rc != MQTTCLIENT_SUCCESS &&
		    rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
			err = pa_err("MQTTClient_receive", rc);
			goto out;
		}
		if (!msg) {
			waited += PA_RECEIVE_MS;
			if (waited < PA_STALL_MS)
				continue;
			fprintf(stderr, "paho: %d of %d, then %d s silence\n",
				got, n, waited / 1000);
			err = -ETIMEDOUT;
			goto out;
		}
		waited = 0;
		if (msg->payloadlen < 0 || (size_t)msg->payloadlen != len)
			bad++;
		MQTTClient_freeMessage(&msg);
		MQTTClient_free(topic);
		got++;
	}
	bench_stop(ctx);
	if (bad) {
		fprintf(stderr, "paho: %d of %d messages not %zu bytes long\n",
			bad, n, len);
		err = -EBADMSG;
	}
out:
	pa_close(&c);
	return err;
}

static int pa_idle(struct bench_ctx *ctx, int n, int keepalive, int secs)
{
	struct timespec end;
	MQTTClient *c;
	struct pa_flow f;
	int i, lost = 0, err;

	c = calloc(n, sizeof(*c));
	if (!c) {
		fprintf(stderr, "paho: calloc: %s\n", strerror(ENOMEM));
		return -ENOMEM;
	}
	err = pa_flow_init(&f);
	if (err) {
		free(c);
		return err;
	}
	for (i = 0; i < n && !err; i++)
		err = pa_open(ctx, &c[i], i, keepalive, &f);
	if (err)
		goto out;

	bench_start(ctx);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += secs;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end,
			       NULL) == EINTR)
		;
	bench_stop(ctx);

	for (i = 0; i < n; i++)
		if (!MQTTClient_isConnected(c[i]))
			lost++;
	if (lost) {
		fprintf(stderr, "paho: %d of %d sessions lost while idle\n",
			lost, n);
		err = -ENOTCONN;
	}
out:
	for (i = 0; i < n; i++)
		pa_close(&c[i]);
	free(c);
	pa_flow_destroy(&f);
	return err;
}

const struct bench_contender bench_paho = {
	.name		= "paho",
	.connect_once	= pa_connect_once,
	.connect_many	= NULL,
	.publish	= pa_publish,
	.receive	= pa_receive,
	.idle		= pa_idle,
	.hold		= NULL,
};
