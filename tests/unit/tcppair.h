/* tcppair — a connected loopback TCP pair for unit suites that need a real
 * socket (pump, sockout). */
#ifndef TLSPEEK_TCPPAIR_H
#define TLSPEEK_TCPPAIR_H

/* *mine (non-blocking) for the code under test, *peer (blocking,
 * TCP_NODELAY) for the test; the test fails if they cannot be made. */
void tcp_pair(int *mine, int *peer);

#endif
