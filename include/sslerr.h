/* sslerr — the crypto layer's one way to report an OpenSSL failure. */
#ifndef TLSPEEK_SSLERR_H
#define TLSPEEK_SSLERR_H

/* Log one error line: the caller's words (a printf format), then ": " and
 * the newest reason on OpenSSL's error queue ("unknown error" when it is
 * empty). The queue is then cleared, so the next caller starts clean. */
void sslerr_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
