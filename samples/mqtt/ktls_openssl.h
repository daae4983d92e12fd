/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TLS with OpenSSL, then kTLS: what an application does before it hands
 * a TCP socket to AF_MQTT (setsockopt(MQTT_TRANSPORT_FD)).
 *
 * OpenSSL does the handshake on a connected, blocking TCP socket; the
 * record keys of both directions are then derived here and given to the
 * kernel (TCP_ULP "tls", TLS_TX, TLS_RX), after which the SSL object never
 * touches the socket again.  OpenSSL's own kTLS (SSL_OP_ENABLE_KTLS) is
 * not used: Debian 12's OpenSSL 3.0 cannot hand TLS 1.3 receive keys to
 * the kernel and may be built without kTLS at all.  The keys come from
 * the handshake's secrets instead:
 *
 *   TLS 1.3  CLIENT_/SERVER_TRAFFIC_SECRET_0, caught by the key log
 *            callback, expanded with HKDF-Expand-Label "key" and "iv"
 *            (RFC 8446 7.1, 7.3); records start at sequence number 0.
 *   TLS 1.2  the session's master secret and the two randoms, expanded
 *            with the PRF into the key block (RFC 5246 6.3); each side's
 *            Finished was record 0 under the new keys, so both
 *            directions go on at sequence number 1.
 *
 * TLS 1.2 and 1.3; AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305; client
 * or server (the selftests' scripted broker uses the server side): the
 * SSL's role decides which secret is the transmit one.
 *
 *   ctx = ktls_ctx_new(&o, err, len);            one per configuration
 *   ssl = ktls_handshake(ctx, fd, &o, err, len);
 *   ktls_enable(ssl, fd, true, err, len);        TCP_ULP "tls", TX, RX
 *   ktls_ssl_free(ssl);                          never SSL_shutdown()
 *
 * or fd = ktls_connect(host, port, &o, &ssl, err, len) for a client.
 * Failures return NULL or -1 with a sentence in err saying what failed,
 * with OpenSSL's reasons and the certificate verification's.
 *
 * Link with -lssl -lcrypto.  A peer that closes the socket during the
 * handshake raises SIGPIPE: ignore it.
 */
#ifndef KTLS_OPENSSL_H
#define KTLS_OPENSSL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#ifndef SOL_TLS
#define SOL_TLS			282
#endif
#ifndef TCP_ULP
#define TCP_ULP			31
#endif

/* TLS record types (RFC 8446 5.1). */
#define KTLS_REC_ALERT		21
#define KTLS_REC_HANDSHAKE	22
#define KTLS_REC_DATA		23

/* The largest plaintext of one record (RFC 8446 5.1). */
#define KTLS_REC_MAX		16384

/* Alert levels and descriptions (RFC 8446 6). */
#define KTLS_ALERT_WARNING		1
#define KTLS_ALERT_FATAL		2
#define KTLS_CLOSE_NOTIFY		0
#define KTLS_BAD_CERTIFICATE		42
#define KTLS_CERTIFICATE_EXPIRED	45
#define KTLS_UNKNOWN_CA			48
#define KTLS_ACCESS_DENIED		49
#define KTLS_DECRYPT_ERROR		51
#define KTLS_INTERNAL_ERROR		80
#define KTLS_CERTIFICATE_REQUIRED	116

/* Handshake messages that may come after the handshake. */
#define KTLS_NEW_SESSION_TICKET		4
#define KTLS_KEY_UPDATE			24

#define KTLS_SECRET_MAX		EVP_MAX_MD_SIZE
#define KTLS_KEY_MAX		32
#define KTLS_IV_LEN		12	/* every cipher's AEAD nonce */
#define KTLS_GCM_SALT_LEN	4	/* TLS 1.2 GCM: the implicit part */
#define KTLS_MASTER_LEN		48
#define KTLS_RANDOM_LEN		32

/*
 * Values for struct ktls_opts' ciphers and suites, each naming exactly one
 * record cipher (in TLS 1.2 with ECDHE, for an ECDSA or an RSA key), and
 * the defaults: all that kTLS takes.
 */
#define KTLS_TLS12_AES_128_GCM \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define KTLS_TLS12_AES_256_GCM \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define KTLS_TLS12_CHACHA20_POLY1305 \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define KTLS_TLS12_CIPHERS \
	KTLS_TLS12_AES_128_GCM ":" KTLS_TLS12_AES_256_GCM ":" \
	KTLS_TLS12_CHACHA20_POLY1305

#define KTLS_TLS13_AES_128_GCM		"TLS_AES_128_GCM_SHA256"
#define KTLS_TLS13_AES_256_GCM		"TLS_AES_256_GCM_SHA384"
#define KTLS_TLS13_CHACHA20_POLY1305	"TLS_CHACHA20_POLY1305_SHA256"
#define KTLS_TLS13_SUITES \
	KTLS_TLS13_AES_128_GCM ":" KTLS_TLS13_AES_256_GCM ":" \
	KTLS_TLS13_CHACHA20_POLY1305

/* What the handshake should be. */
struct ktls_opts {
	/*
	 * Trusted CAs (PEM).  A client verifies the server against them
	 * (NULL: it does not verify).  A server with a CA file asks for a
	 * client certificate and verifies the one it gets.
	 */
	const char *ca_file;
	const char *cert_file;	/* our certificate chain (PEM), or NULL */
	const char *key_file;	/* its key (PEM); NULL: in cert_file */
	/*
	 * Client: the server's name, sent as SNI and checked against its
	 * certificate (an IP address is checked, not sent); NULL: none.
	 */
	const char *peer_name;
	const char *ciphers;	/* TLS 1.2 list, NULL: KTLS_TLS12_CIPHERS */
	const char *suites;	/* TLS 1.3 suites, NULL: KTLS_TLS13_SUITES */
	int min_version;	/* TLS1_2_VERSION, TLS1_3_VERSION; 0: 1.2 */
	int max_version;	/* TLS1_2_VERSION, TLS1_3_VERSION; 0: 1.3 */
	bool server;		/* the server's side */
	bool require_cert;	/* server, ca_file: client must send one */
};

/* One direction's kTLS parameters, for setsockopt(SOL_TLS, TLS_TX/RX). */
union ktls_crypto {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* The TLS 1.3 traffic secrets, caught from the key log; per SSL. */
struct ktls_secrets {
	uint8_t client[KTLS_SECRET_MAX];	/* CLIENT_TRAFFIC_SECRET_0 */
	uint8_t server[KTLS_SECRET_MAX];	/* SERVER_TRAFFIC_SECRET_0 */
	size_t client_len;
	size_t server_len;
	bool used;		/* the keys were derived: secrets wiped */
};

/* A record cipher kTLS takes. */
struct ktls_cipher {
	int nid;		/* OpenSSL's NID of the AEAD */
	int type;		/* TLS_CIPHER_* of <linux/tls.h> */
	size_t key_len;
	size_t tls12_iv_len;	/* fixed IV bytes in TLS 1.2 key block */
};

static int ktls_ex_index = -1;	/* SSL ex_data: struct ktls_secrets */
static CRYPTO_ONCE ktls_once = CRYPTO_ONCE_STATIC_INIT;

/* Error text: set, append, append OpenSSL's queue (and empty it). */
static inline void ktls_verr(char *err, size_t len, bool append,
			     const char *fmt, va_list ap)
{
	size_t n;

	if (!err || !len)
		return;
	n = append ? strnlen(err, len - 1) : 0;
	vsnprintf(err + n, len - n, fmt, ap);
}

static inline __attribute__((format(printf, 3, 4)))
void ktls_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktls_verr(err, len, false, fmt, ap);
	va_end(ap);
}

static inline __attribute__((format(printf, 3, 4)))
void ktls_errcat(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktls_verr(err, len, true, fmt, ap);
	va_end(ap);
}

static inline void ktls_errcat_openssl(char *err, size_t len)
{
	const char *data, *sep = ": ";
	unsigned long e;
	int flags;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags))) {
		const char *lib = ERR_lib_error_string(e);
		const char *reason = ERR_reason_error_string(e);
		char code[128];

		if (ERR_SYSTEM_ERROR(e)) {
			lib = NULL;
			reason = strerror(ERR_GET_REASON(e));
		} else if (!reason) {
			ERR_error_string_n(e, code, sizeof(code));
			reason = code;
		}
		ktls_errcat(err, len, "%s%s%s%s", sep, lib ? lib : "",
			    lib ? ": " : "", reason);
		if ((flags & ERR_TXT_STRING) && data && *data)
			ktls_errcat(err, len, " (%s)", data);
		sep = "; ";
	}
}

/* "what: OpenSSL's reasons". */
static inline void ktls_openssl_err(char *err, size_t len, const char *what)
{
	ktls_err(err, len, "%s", what);
	ktls_errcat_openssl(err, len);
}

static inline void ktls_secrets_free(void *parent, void *ptr,
				     CRYPTO_EX_DATA *ad, int idx, long argl,
				     void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	OPENSSL_clear_free(ptr, sizeof(struct ktls_secrets));
}

static inline void ktls_init_once(void)
{
	/* SSL_free() wipes and frees the secrets of every SSL. */
	ktls_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
					     ktls_secrets_free);
}

static inline int ktls_init(char *err, size_t errlen)
{
	if (!CRYPTO_THREAD_run_once(&ktls_once, ktls_init_once) ||
	    ktls_ex_index < 0) {
		ktls_openssl_err(err, errlen, "SSL_get_ex_new_index");
		return -1;
	}
	return 0;
}

static inline int ktls_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex up to a NUL or a space into at most max bytes; 0 if malformed. */
static inline size_t ktls_unhex(uint8_t *out, size_t max, const char *hex)
{
	size_t n = 0;

	while (*hex && *hex != ' ') {
		int hi = ktls_hexval(hex[0]);
		int lo = hi < 0 ? -1 : ktls_hexval(hex[1]);

		if (lo < 0 || n == max)
			return 0;
		out[n++] = hi << 4 | lo;
		hex += 2;
	}
	return n;
}

/*
 * The key log callback: "LABEL <client random> <secret>" lines in hex
 * (NSS key log format).  Keep the TLS 1.3 application traffic secrets;
 * TLS 1.2's master secret stays in the SSL_SESSION.
 */
static inline void ktls_keylog(const SSL *ssl, const char *line)
{
	static const char client[] = "CLIENT_TRAFFIC_SECRET_0 ";
	static const char server[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct ktls_secrets *s = SSL_get_ex_data(ssl, ktls_ex_index);
	const char *hex;

	if (!s)
		return;
	hex = strchr(line, ' ');
	hex = hex ? strchr(hex + 1, ' ') : NULL;
	if (!hex)
		return;
	if (!strncmp(line, client, sizeof(client) - 1))
		s->client_len = ktls_unhex(s->client, sizeof(s->client),
					   hex + 1);
	else if (!strncmp(line, server, sizeof(server) - 1))
		s->server_len = ktls_unhex(s->server, sizeof(s->server),
					   hex + 1);
}

/* An SSL_CTX for o whose connections can go to kTLS; NULL, reason in err. */
static inline SSL_CTX *ktls_ctx_new(const struct ktls_opts *o, char *err,
				    size_t errlen)
{
	int min = o->min_version ? o->min_version : TLS1_2_VERSION;
	int max = o->max_version ? o->max_version : TLS1_3_VERSION;
	const char *ciphers = o->ciphers ? o->ciphers : KTLS_TLS12_CIPHERS;
	const char *suites = o->suites ? o->suites : KTLS_TLS13_SUITES;
	const char *key = o->key_file ? o->key_file : o->cert_file;
	SSL_CTX *ctx;

	errno = EINVAL;		/* unless a failing call says better */
	if (ktls_init(err, errlen))
		return NULL;
	if (min < TLS1_2_VERSION || max > TLS1_3_VERSION || min > max) {
		ktls_err(err, errlen,
			 "TLS versions %#x..%#x: kTLS takes TLS 1.2 and 1.3 only",
			 min, max);
		return NULL;
	}
	if (o->server && !o->cert_file) {
		ktls_err(err, errlen, "a TLS server needs a certificate");
		return NULL;
	}
	if (o->require_cert && (!o->server || !o->ca_file)) {
		ktls_err(err, errlen,
			 "require_cert is for a server with a CA file");
		return NULL;
	}

	ERR_clear_error();
	ctx = SSL_CTX_new(o->server ? TLS_server_method() :
			  TLS_client_method());
	if (!ctx) {
		ktls_openssl_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, min) ||
	    !SSL_CTX_set_max_proto_version(ctx, max)) {
		ktls_openssl_err(err, errlen, "TLS versions");
		goto fail;
	}
	if (!SSL_CTX_set_cipher_list(ctx, ciphers)) {
		ktls_openssl_err(err, errlen, "TLS 1.2 ciphers");
		ktls_errcat(err, errlen, " \"%s\"", ciphers);
		goto fail;
	}
	if (!SSL_CTX_set_ciphersuites(ctx, suites)) {
		ktls_openssl_err(err, errlen, "TLS 1.3 suites");
		ktls_errcat(err, errlen, " \"%s\"", suites);
		goto fail;
	}

	/*
	 * Read-ahead stays off: OpenSSL must read the handshake's records
	 * and not one byte more.  What the peer sends after its Finished (a
	 * session ticket, the first data, an alert) must still be in the
	 * kernel's socket buffer when kTLS takes over; bytes OpenSSL had
	 * read ahead would be lost to it.
	 */
	SSL_CTX_set_read_ahead(ctx, 0);
#ifdef SSL_OP_ENABLE_KTLS
	/* The keys are installed by hand; OpenSSL must not try its own. */
	SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
#endif
	/* kTLS cannot renegotiate. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	/*
	 * A TLS 1.3 server sends its tickets right after the handshake
	 * under the application key: they would take record numbers
	 * before kTLS counts them.  (A client has no tickets to send; the
	 * ones a server sends it stay in the socket, for the kernel.)
	 */
	SSL_CTX_set_num_tickets(ctx, 0);
	/* Full handshakes only: nothing here resumes a session. */
	if (o->server) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}
	SSL_CTX_set_keylog_callback(ctx, ktls_keylog);

	if (o->cert_file &&
	    (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(ctx) != 1)) {
		ktls_openssl_err(err, errlen, "certificate");
		ktls_errcat(err, errlen, " (%s, key %s)", o->cert_file, key);
		goto fail;
	}
	if (o->ca_file) {
		if (!SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL)) {
			ktls_openssl_err(err, errlen, "CA file");
			ktls_errcat(err, errlen, " %s", o->ca_file);
			goto fail;
		}
		if (o->server) {
			/* The CertificateRequest names the CAs. */
			SSL_CTX_set_client_CA_list(ctx,
				SSL_load_client_CA_file(o->ca_file));
			if (!SSL_CTX_get_client_CA_list(ctx)) {
				ktls_openssl_err(err, errlen, "CA names");
				goto fail;
			}
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
				   (o->require_cert ?
				    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The client's SNI and the name its server's certificate must have. */
static inline int ktls_peer_name(SSL *ssl, const char *name, char *err,
				 size_t errlen)
{
	uint8_t addr[sizeof(struct in6_addr)];

	/* An address is checked against the certificate, not sent as SNI. */
	if (inet_pton(AF_INET, name, addr) == 1 ||
	    inet_pton(AF_INET6, name, addr) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name))
			return 0;
	} else if (SSL_set_tlsext_host_name(ssl, name) &&
		   SSL_set1_host(ssl, name)) {
		return 0;
	}
	ktls_openssl_err(err, errlen, "peer name");
	ktls_errcat(err, errlen, " %s", name);
	return -1;
}

/* The kTLS cipher of the negotiated suite, NULL if there is none. */
static inline const struct ktls_cipher *ktls_cipher_of(const SSL *ssl)
{
	static const struct ktls_cipher ciphers[] = {
		{ NID_aes_128_gcm, TLS_CIPHER_AES_GCM_128,
		  TLS_CIPHER_AES_GCM_128_KEY_SIZE, KTLS_GCM_SALT_LEN },
		{ NID_aes_256_gcm, TLS_CIPHER_AES_GCM_256,
		  TLS_CIPHER_AES_GCM_256_KEY_SIZE, KTLS_GCM_SALT_LEN },
		/* RFC 7905: all 12 bytes of the nonce are fixed, as in 1.3 */
		{ NID_chacha20_poly1305, TLS_CIPHER_CHACHA20_POLY1305,
		  TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE, KTLS_IV_LEN },
	};
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int nid = c ? SSL_CIPHER_get_cipher_nid(c) : NID_undef;
	size_t i;

	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
		if (ciphers[i].nid == nid)
			return &ciphers[i];
	return NULL;
}

/*
 * After the handshake: is all the kernel needs known, and nothing of the
 * peer's left in OpenSSL's buffers?  0, or -1 with the reason in err.
 */
static inline int ktls_check_ready(SSL *ssl, char *err, size_t errlen)
{
	const struct ktls_secrets *s = SSL_get_ex_data(ssl, ktls_ex_index);
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int version = SSL_version(ssl);

	if (!SSL_is_init_finished(ssl)) {
		ktls_err(err, errlen, "the TLS handshake is not done");
	} else if (version != TLS1_2_VERSION && version != TLS1_3_VERSION) {
		ktls_err(err, errlen, "protocol %s: kTLS needs TLS 1.2 or 1.3",
			 SSL_get_version(ssl));
	} else if (!ktls_cipher_of(ssl)) {
		ktls_err(err, errlen,
			 "cipher %s: kTLS takes AES-GCM and ChaCha20-Poly1305 only",
			 c ? SSL_CIPHER_get_name(c) : "(none)");
	} else if (!s) {
		ktls_err(err, errlen,
			 "this SSL was not made by ktls_handshake()");
	} else if (s->used) {
		ktls_err(err, errlen, "the keys of this SSL were taken");
	} else if (version == TLS1_3_VERSION &&
		   (!s->client_len || !s->server_len)) {
		ktls_err(err, errlen,
			 "no TLS 1.3 traffic secrets: was the SSL_CTX made by ktls_ctx_new()?");
	} else if (version == TLS1_3_VERSION && SSL_is_server(ssl) &&
		   SSL_get_num_tickets(ssl)) {
		ktls_err(err, errlen,
			 "the server sent session tickets: record numbers unknown");
	} else if (SSL_pending(ssl) || SSL_has_pending(ssl)) {
		/*
		 * SSL_pending(): data decrypted and not read yet;
		 * SSL_has_pending(): also bytes read from the socket and not
		 * processed.  Either would be lost to the kernel.
		 */
		ktls_err(err, errlen,
			 "OpenSSL read past the handshake (%d bytes of data): the kernel would miss them",
			 SSL_pending(ssl));
	} else {
		return 0;
	}
	return -1;
}

/* Why SSL_do_handshake() returned ret, into err. */
static inline void ktls_handshake_err(SSL *ssl, int ret, int syserr,
				      char *err, size_t errlen)
{
	int why = SSL_get_error(ssl, ret);
	long verify = SSL_get_verify_result(ssl);

	ktls_err(err, errlen, "TLS handshake as %s",
		 SSL_is_server(ssl) ? "server" : "client");
	switch (why) {
	case SSL_ERROR_SYSCALL:
		if (!ERR_peek_error())
			ktls_errcat(err, errlen, ": %s", syserr ?
				    strerror(syserr) :
				    "the peer closed the connection");
		break;
	case SSL_ERROR_ZERO_RETURN:
		ktls_errcat(err, errlen, ": the peer sent close_notify");
		break;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		ktls_errcat(err, errlen, ": the socket is non-blocking");
		break;
	}
	ktls_errcat_openssl(err, errlen);
	if (verify != X509_V_OK && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE)
		ktls_errcat(err, errlen, " (certificate verification: %s)",
			    X509_verify_cert_error_string(verify));
}

/*
 * The handshake of o's role on a connected, blocking TCP socket, with a
 * context of ktls_ctx_new(): the SSL, or NULL with the reason (OpenSSL's,
 * and the verification's) in err.
 */
static inline SSL *ktls_handshake(SSL_CTX *ctx, int fd,
				  const struct ktls_opts *o, char *err,
				  size_t errlen)
{
	struct ktls_secrets *s;
	int ret, e = EPROTO;
	SSL *ssl;

	if (ktls_init(err, errlen))
		return NULL;
	ERR_clear_error();
	ssl = SSL_new(ctx);
	if (!ssl) {
		ktls_openssl_err(err, errlen, "SSL_new");
		errno = ENOMEM;
		return NULL;
	}
	s = OPENSSL_zalloc(sizeof(*s));
	if (!s || !SSL_set_ex_data(ssl, ktls_ex_index, s)) {
		OPENSSL_free(s);
		ktls_openssl_err(err, errlen, "SSL_set_ex_data");
		goto fail;
	}
	if (!SSL_set_fd(ssl, fd)) {
		ktls_openssl_err(err, errlen, "SSL_set_fd");
		goto fail;
	}
	if (o->server) {
		SSL_set_accept_state(ssl);
	} else {
		SSL_set_connect_state(ssl);
		if (o->peer_name &&
		    ktls_peer_name(ssl, o->peer_name, err, errlen))
			goto fail;
	}
	errno = 0;
	ret = SSL_do_handshake(ssl);
	if (ret != 1) {
		e = errno;
		ktls_handshake_err(ssl, ret, e, err, errlen);
		if (SSL_get_error(ssl, ret) != SSL_ERROR_SYSCALL || !e)
			e = EPROTO;
		goto fail;
	}
	if (ktls_check_ready(ssl, err, errlen))
		goto fail;
	return ssl;
fail:
	SSL_free(ssl);
	errno = e;
	return NULL;
}

/*
 * Free an SSL of ktls_handshake() (its secrets are wiped): never
 * SSL_shutdown(), the records on the socket are the kernel's.
 */
static inline void ktls_ssl_free(SSL *ssl)
{
	if (!ssl)
		return;
	SSL_set_quiet_shutdown(ssl, 1);
	SSL_free(ssl);
}

/* Run the KDF alg with params into out. */
static inline int ktls_kdf(const char *alg, const OSSL_PARAM *params,
			   uint8_t *out, size_t len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, alg, NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int ret = kctx && EVP_KDF_derive(kctx, out, len, params) == 1 ? 0 : -1;

	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

/* HKDF-Expand-Label(secret, label, "", len) of TLS 1.3 (RFC 8446 7.1). */
static inline int ktls_expand_label(const EVP_MD *md, const uint8_t *secret,
				    size_t slen, const char *label,
				    uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 255 + 1];
	size_t llen = strlen(label), ilen = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[5], *p = params;

	/* struct HkdfLabel: length, "tls13 " + label, empty context */
	info[ilen++] = len >> 8;
	info[ilen++] = len;
	info[ilen++] = 6 + llen;
	memcpy(info + ilen, "tls13 ", 6);
	ilen += 6;
	memcpy(info + ilen, label, llen);
	ilen += llen;
	info[ilen++] = 0;

	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
			(char *)EVP_MD_get0_name(md), 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)secret, slen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						 ilen);
	*p = OSSL_PARAM_construct_end();
	return ktls_kdf(OSSL_KDF_NAME_HKDF, params, out, len);
}

/*
 * The TLS 1.2 key block: PRF(master, "key expansion", server random +
 * client random) (RFC 5246 6.3).
 */
static inline int ktls_key_block(SSL *ssl, const EVP_MD *md, uint8_t *out,
				 size_t len)
{
	static const char label[] = "key expansion";
	uint8_t master[KTLS_MASTER_LEN];
	uint8_t seed[sizeof(label) - 1 + 2 * KTLS_RANDOM_LEN];
	uint8_t *random = seed + sizeof(label) - 1;
	OSSL_PARAM params[4], *p = params;
	size_t mlen;
	int ret = -1;

	memcpy(seed, label, sizeof(label) - 1);
	mlen = SSL_SESSION_get_master_key(SSL_get_session(ssl), master,
					  sizeof(master));
	if (mlen &&
	    SSL_get_server_random(ssl, random, KTLS_RANDOM_LEN) ==
	    KTLS_RANDOM_LEN &&
	    SSL_get_client_random(ssl, random + KTLS_RANDOM_LEN,
				  KTLS_RANDOM_LEN) == KTLS_RANDOM_LEN) {
		*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
				(char *)EVP_MD_get0_name(md), 0);
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
							 master, mlen);
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
							 seed, sizeof(seed));
		*p = OSSL_PARAM_construct_end();
		ret = ktls_kdf(OSSL_KDF_NAME_TLS1_PRF, params, out, len);
	}
	OPENSSL_cleanse(master, sizeof(master));
	return ret;
}

/*
 * Fill c from a key, the 12-byte nonce and the record number: the
 * kernel's salt is the nonce's first bytes, its iv the rest
 * (TLS_CIPHER_*_SALT_SIZE + _IV_SIZE = 12 for every cipher here).
 */
#define KTLS_FILL(ci, k, n, sq) do {					\
	_Static_assert(sizeof((ci)->salt) + sizeof((ci)->iv) ==		\
		       KTLS_IV_LEN, "salt + iv is the nonce");		\
	memcpy((ci)->key, (k), sizeof((ci)->key));			\
	memcpy((ci)->salt, (n), sizeof((ci)->salt));			\
	memcpy((ci)->iv, (n) + sizeof((ci)->salt), sizeof((ci)->iv));	\
	memcpy((ci)->rec_seq, (sq), sizeof((ci)->rec_seq));		\
} while (0)

static inline size_t ktls_fill(union ktls_crypto *c, int version,
			       int cipher, const uint8_t *key,
			       const uint8_t *nonce, uint64_t seq)
{
	uint8_t rec_seq[8];
	int i;

	for (i = 0; i < 8; i++)
		rec_seq[i] = seq >> (56 - 8 * i);
	memset(c, 0, sizeof(*c));
	c->info.version = version;
	c->info.cipher_type = cipher;
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		KTLS_FILL(&c->gcm128, key, nonce, rec_seq);
		return sizeof(c->gcm128);
	case TLS_CIPHER_AES_GCM_256:
		KTLS_FILL(&c->gcm256, key, nonce, rec_seq);
		return sizeof(c->gcm256);
	case TLS_CIPHER_CHACHA20_POLY1305:
		KTLS_FILL(&c->chacha, key, nonce, rec_seq);
		return sizeof(c->chacha);
	}
	return 0;
}

/*
 * The kTLS parameters of both directions (rx may be NULL) of a finished
 * handshake, and their size: 0, or -1 with the reason in err.  Take them
 * right after ktls_handshake(), before any SSL_read() or SSL_write(), and
 * only once: the secrets are wiped; wipe tx and rx when done.
 */
static inline int ktls_derive(SSL *ssl, union ktls_crypto *tx,
			      union ktls_crypto *rx, size_t *size,
			      char *err, size_t errlen)
{
	struct ktls_secrets *s = SSL_get_ex_data(ssl, ktls_ex_index);
	const struct ktls_cipher *kc = ktls_cipher_of(ssl);
	uint8_t block[2 * KTLS_KEY_MAX + 2 * KTLS_IV_LEN];
	uint8_t key[2][KTLS_KEY_MAX], nonce[2][KTLS_IV_LEN];
	bool server = SSL_is_server(ssl);
	int version = SSL_version(ssl), ret = -1, i;
	const EVP_MD *md;
	size_t klen, ivlen;
	uint64_t seq;

	if (ktls_check_ready(ssl, err, errlen))
		return -1;
	/* TLS 1.3: the suite's HKDF hash; TLS 1.2: its PRF hash. */
	md = SSL_CIPHER_get_handshake_digest(SSL_get_current_cipher(ssl));
	klen = kc->key_len;
	ERR_clear_error();

	/* [0] the client's direction, [1] the server's. */
	if (version == TLS1_3_VERSION) {
		if (!md ||
		    ktls_expand_label(md, s->client, s->client_len, "key",
				      key[0], klen) ||
		    ktls_expand_label(md, s->client, s->client_len, "iv",
				      nonce[0], KTLS_IV_LEN) ||
		    ktls_expand_label(md, s->server, s->server_len, "key",
				      key[1], klen) ||
		    ktls_expand_label(md, s->server, s->server_len, "iv",
				      nonce[1], KTLS_IV_LEN)) {
			ktls_openssl_err(err, errlen, "TLS 1.3 key derivation");
			goto out;
		}
		seq = 0;
	} else {
		/* AES-GCM has a 4-byte implicit nonce, ChaCha20 all 12. */
		ivlen = kc->tls12_iv_len;
		if (!md ||
		    ktls_key_block(ssl, md, block, 2 * klen + 2 * ivlen)) {
			ktls_openssl_err(err, errlen, "TLS 1.2 key derivation");
			goto out;
		}
		/* Each side's Finished was record 0 under these keys. */
		seq = 1;
		/* No MAC keys: client key, server key, client IV, server IV */
		memcpy(key[0], block, klen);
		memcpy(key[1], block + klen, klen);
		memcpy(nonce[0], block + 2 * klen, ivlen);
		memcpy(nonce[1], block + 2 * klen + ivlen, ivlen);
		/*
		 * AES-GCM: the rest of the nonce is the explicit part each
		 * record carries.  kTLS starts it from iv and counts it up
		 * with the record number; start it, as OpenSSL does, at
		 * the record number.
		 */
		for (i = 0; ivlen < KTLS_IV_LEN && i < 8; i++) {
			nonce[0][4 + i] = seq >> (56 - 8 * i);
			nonce[1][4 + i] = nonce[0][4 + i];
		}
	}
	*size = ktls_fill(tx, version == TLS1_3_VERSION ? TLS_1_3_VERSION :
			  TLS_1_2_VERSION, kc->type, key[server],
			  nonce[server], seq);
	if (rx)
		ktls_fill(rx, version == TLS1_3_VERSION ? TLS_1_3_VERSION :
			  TLS_1_2_VERSION, kc->type, key[!server],
			  nonce[!server], seq);
	ret = 0;
out:
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(nonce, sizeof(nonce));
	OPENSSL_cleanse(s, sizeof(*s));
	s->used = true;
	return ret;
}

/*
 * kTLS on fd after ktls_handshake(): TX, and RX when rx (a peer that only
 * sends records may leave receiving to OpenSSL).  0, or -1 with the
 * reason in err; errno says why the kernel refused.  On failure fd may
 * have the ULP without keys: close it.  Then ktls_ssl_free() the SSL.
 */
static inline int ktls_enable(SSL *ssl, int fd, bool rx, char *err,
			      size_t errlen)
{
	union ktls_crypto tx_c, rx_c;
	size_t size;
	int ret = -1, e;

	if (ktls_derive(ssl, &tx_c, &rx_c, &size, err, errlen)) {
		errno = EPROTO;
		return -1;
	}
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")))
		ktls_err(err, errlen, "TCP_ULP tls: %s%s", strerror(errno),
			 errno == ENOENT ? " (no tls module?)" : "");
	else if (setsockopt(fd, SOL_TLS, TLS_TX, &tx_c, size))
		ktls_err(err, errlen, "TLS_TX: %s", strerror(errno));
	else if (rx && setsockopt(fd, SOL_TLS, TLS_RX, &rx_c, size))
		ktls_err(err, errlen, "TLS_RX: %s", strerror(errno));
	else
		ret = 0;
	e = errno;
	OPENSSL_cleanse(&tx_c, sizeof(tx_c));
	OPENSSL_cleanse(&rx_c, sizeof(rx_c));
	errno = e;
	return ret;
}

/*
 * One record of type on a kTLS socket (at most KTLS_REC_MAX bytes make
 * one record): bytes sent or -1 (errno).
 */
static inline ssize_t ktls_send_record(int fd, uint8_t type, const void *buf,
				       size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(type))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *cmsg;

	memset(&cbuf, 0, sizeof(cbuf));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(type));
	memcpy(CMSG_DATA(cmsg), &type, sizeof(type));
	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

/* One alert: level KTLS_ALERT_WARNING or _FATAL, a description. */
static inline ssize_t ktls_send_alert(int fd, uint8_t level, uint8_t desc)
{
	uint8_t alert[2] = { level, desc };

	return ktls_send_record(fd, KTLS_REC_ALERT, alert, sizeof(alert));
}

/*
 * Records of one type from a kTLS socket, *type: bytes or -1 (errno).  A
 * record that is not data comes alone; give KTLS_REC_MAX bytes to get any
 * record whole.
 */
static inline ssize_t ktls_recv_record(int fd, uint8_t *type, void *buf,
				       size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(*type))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *cmsg;
	ssize_t n;

	*type = KTLS_REC_DATA;
	n = recvmsg(fd, &msg, 0);
	if (n < 0)
		return n;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
		if (cmsg->cmsg_level == SOL_TLS &&
		    cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cmsg);
	return n;
}

/* The name of an alert description. */
static inline const char *ktls_alert_name(int desc)
{
	switch (desc) {
	case KTLS_CLOSE_NOTIFY:		return "close_notify";
	case 10:			return "unexpected_message";
	case 20:			return "bad_record_mac";
	case 22:			return "record_overflow";
	case 40:			return "handshake_failure";
	case KTLS_BAD_CERTIFICATE:	return "bad_certificate";
	case 43:			return "unsupported_certificate";
	case 44:			return "certificate_revoked";
	case KTLS_CERTIFICATE_EXPIRED:	return "certificate_expired";
	case 46:			return "certificate_unknown";
	case 47:			return "illegal_parameter";
	case KTLS_UNKNOWN_CA:		return "unknown_ca";
	case KTLS_ACCESS_DENIED:	return "access_denied";
	case 50:			return "decode_error";
	case KTLS_DECRYPT_ERROR:	return "decrypt_error";
	case 70:			return "protocol_version";
	case 71:			return "insufficient_security";
	case KTLS_INTERNAL_ERROR:	return "internal_error";
	case 90:			return "user_canceled";
	case 109:			return "missing_extension";
	case 112:			return "unrecognized_name";
	case KTLS_CERTIFICATE_REQUIRED:	return "certificate_required";
	default:			return "unknown";
	}
}

/* TCP to host:port (names or numbers): the fd, or -1 (errno, err). */
static inline int ktls_tcp_connect(const char *host, const char *port,
				   char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, ret, e = 0;

	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		ktls_err(err, errlen, "%s port %s: %s", host, port,
			 gai_strerror(ret));
		errno = ret == EAI_SYSTEM ? errno : EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		e = errno;
		ktls_err(err, errlen, "connect to %s port %s: %s", host, port,
			 strerror(e));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		errno = e;
	return fd;
}

/*
 * A client's whole way in: TCP to host:port, the handshake, kTLS both
 * ways.  The connected fd, or -1 with the reason in err; *sslp gets the
 * SSL (for its protocol and cipher), to free with ktls_ssl_free().
 */
static inline int ktls_connect(const char *host, const char *port,
			       const struct ktls_opts *o, SSL **sslp,
			       char *err, size_t errlen)
{
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	int fd, e;

	if (o->server) {
		ktls_err(err, errlen, "ktls_connect() is the client's");
		errno = EINVAL;
		return -1;
	}
	ctx = ktls_ctx_new(o, err, errlen);
	if (!ctx)
		return -1;
	fd = ktls_tcp_connect(host, port, err, errlen);
	if (fd >= 0)
		ssl = ktls_handshake(ctx, fd, o, err, errlen);
	e = errno;
	SSL_CTX_free(ctx);	/* the SSL keeps a reference */
	if (fd < 0) {
		errno = e;
		return -1;
	}
	if (!ssl || ktls_enable(ssl, fd, true, err, errlen)) {
		if (ssl)
			e = errno;
		ktls_ssl_free(ssl);
		close(fd);
		errno = e;
		return -1;
	}
	*sslp = ssl;
	return fd;
}

#endif /* KTLS_OPENSSL_H */
