/* tcppair — a connected loopback TCP pair (see tcppair.h). */
#include "tcppair.h"

#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/util.h>

void tcp_pair(int *mine, int *peer)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    *peer = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(*peer, (struct sockaddr *)&a, sizeof a), 0);
    *mine = accept(l, NULL, NULL);
    ck_assert_int_ge(*mine, 0);
    close(l);
    int one = 1;
    setsockopt(*peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ck_assert_int_eq(evutil_make_socket_nonblocking(*mine), 0);
}
