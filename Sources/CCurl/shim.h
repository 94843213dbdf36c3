// libcurl, plus inline shims for the variadic curl_easy_setopt / curl_multi_setopt / getinfo.
#include <curl/curl.h>

static inline CURLcode agw_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode agw_easy_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode agw_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*agw_write_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode agw_easy_setopt_writefn(CURL *h, CURLoption o, agw_write_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode agw_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode agw_easy_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode agw_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

#include <stdlib.h>
#include <string.h>

/// Builds a header list for CURLOPT_HTTPHEADER from the NUL-terminated lines laid end to end in
/// `block` (bytes after the last NUL are ignored), in ONE allocation (nodes first, then a copy of
/// the text): curl_slist_append costs two allocations per header. curl only reads the list; free
/// it with free(), never with curl_slist_free_all. NULL when there is no line or memory is short.
static inline struct curl_slist *agw_slist_from_block(const char *block, size_t length) {
    size_t count = 0;
    for (size_t i = 0; i < length; i++) count += block[i] == 0;
    if (count == 0) return NULL;
    size_t nodes = count * sizeof(struct curl_slist);
    char *memory = (char *)malloc(nodes + length);
    if (!memory) return NULL;
    struct curl_slist *list = (struct curl_slist *)memory;
    char *text = memory + nodes;
    memcpy(text, block, length);
    size_t start = 0, n = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] != 0) continue;
        list[n].data = text + start;
        list[n].next = n + 1 < count ? &list[n + 1] : NULL;
        n++;
        start = i + 1;
    }
    return list;
}

// Sockets for the plain-HTTP client (Upstream/Transport/Plain), which lives in the module that
// imports this header: connect to an IP literal without blocking, read a connect's outcome, and
// send without SIGPIPE.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/// Starts a non-blocking TCP connection to `ip` (an IPv4 or IPv6 literal). Returns the socket,
/// with *pending set when the connect is still in progress (wait for POLLOUT, then read
/// agw_socket_error), or -1 with errno set. Nagle is off: requests go out in one send.
static inline int agw_tcp_connect(const char *ip, int port, int *pending) {
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    const struct sockaddr *addr;
    socklen_t len;
    int family;
    if (inet_pton(AF_INET, ip, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        addr = (const struct sockaddr *)&a4;
        len = sizeof a4;
        family = AF_INET;
    } else if (inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        addr = (const struct sockaddr *)&a6;
        len = sizeof a6;
        family = AF_INET6;
    } else {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    *pending = 0;
    if (connect(fd, addr, len) != 0) {
        if (errno != EINPROGRESS) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
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
