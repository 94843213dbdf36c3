// Sockets, for the two adapters that open their own: the server's listening socket and
// accepted clients (Gateway/Server: LaneAcceptor, HTTPServer), and the plain-HTTP client's
// connections (Upstream/Transport/Plain). Plain POSIX calls with the flags we always want, so
// the Swift side passes no socket address structures around.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/// Fills `addr` with an IPv4 or IPv6 literal and a port. 1 on success; 0 with errno EINVAL when
/// `ip` is no IP literal (names are never resolved here).
static inline int agw_ip_address(const char *ip, uint16_t port, struct sockaddr_storage *addr, socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    if (ip && inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        *len = sizeof *a4;
        return 1;
    }
    if (ip && inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof *a6;
        return 1;
    }
    errno = EINVAL;
    return 0;
}

/// Closes a socket whose set-up failed, keeping the errno that says why; returns -1.
static inline int agw_close_failed(int fd) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/// A listening TCP socket of our own (non-blocking, close-on-exec, SO_REUSEADDR but never
/// SO_REUSEPORT, IPv6 sockets v6-only as MHD makes them), for daemons fed by MHD_add_connection.
/// Returns the descriptor, or -1 with errno set.
static inline int agw_listen(const char *address, uint16_t port) {
    struct sockaddr_storage addr;
    socklen_t len;
    if (!agw_ip_address(address, port, &addr, &len)) return -1;
    int family = addr.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
        bind(fd, (const struct sockaddr *)&addr, len) != 0 || listen(fd, SOMAXCONN) != 0) {
        return agw_close_failed(fd);
    }
    return fd;
}

/// The port a socket is bound to, or 0.
static inline uint16_t agw_socket_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

// glibc declares accept4 only under _GNU_SOURCE, which a module header cannot set for headers
// already built: the same prototype, declared here.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/// A client accepted on `listen_fd` (non-blocking, close-on-exec), its address in `addr`.
/// Returns the descriptor, or -1 with errno set (EAGAIN: none waiting).
static inline int agw_accept(int listen_fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof *addr;
    return accept4(listen_fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/// Starts a non-blocking TCP connection to `ip` (an IPv4 or IPv6 literal). Returns the socket,
/// with *pending set when the connect is still in progress (wait for POLLOUT, then read
/// agw_socket_error), or -1 with errno set. Nagle is off: requests go out in one send.
static inline int agw_tcp_connect(const char *ip, int port, int *pending) {
    struct sockaddr_storage addr;
    socklen_t len;
    if (port < 1 || port > 65535 || !agw_ip_address(ip, (uint16_t)port, &addr, &len)) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    *pending = 0;
    if (connect(fd, (const struct sockaddr *)&addr, len) != 0) {
        if (errno != EINPROGRESS) return agw_close_failed(fd);
        *pending = 1;
    }
    return fd;
}

/// The outcome of a non-blocking connect (0, or the errno it failed with).
static inline int agw_socket_error(int fd) {
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return errno;
    return error;
}

/// send(2) that reports a closed peer as EPIPE instead of raising SIGPIPE.
static inline ssize_t agw_send(int fd, const void *buffer, size_t length) {
    return send(fd, buffer, length, MSG_NOSIGNAL);
}
