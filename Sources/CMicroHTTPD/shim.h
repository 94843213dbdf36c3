// libmicrohttpd, plus inline shims for the variadic calls Swift cannot make
// (MHD_start_daemon, MHD_get_daemon_info, MHD_get_connection_info).
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>
#include <microhttpd.h>

typedef void *(*agw_uri_log_cb)(void *cls, const char *uri, struct MHD_Connection *connection);
typedef void (*agw_notify_connection_cb)(void *cls, struct MHD_Connection *connection, void **socket_context,
                                         enum MHD_ConnectionNotificationCode code);

struct agw_daemon_config {
    unsigned int flags;
    const char *address;           // IPv4 or IPv6 literal
    uint16_t port;                 // 0: ephemeral
    unsigned int connection_limit;
    unsigned int thread_pool_size; // 0 or 1: the single internal polling thread
    unsigned int connection_timeout;
    size_t connection_memory_limit;
    const char *tls_key_pem;       // NULL: plain HTTP
    const char *tls_cert_pem;
    int no_listen;                 // 1: no listening socket; connections come from MHD_add_connection
    agw_notify_connection_cb notify_connection; // NULL: none
    void *notify_connection_cls;
};

/// Starts a daemon with every option passed through MHD_OPTION_ARRAY. Returns NULL on failure
/// (bad address, port in use, TLS material rejected).
static inline struct MHD_Daemon *agw_start_daemon(const struct agw_daemon_config *c,
                                                   MHD_AccessHandlerCallback handler, void *handler_cls,
                                                   agw_uri_log_cb uri_log, void *uri_log_cls,
                                                   MHD_RequestCompletedCallback completed, void *completed_cls) {
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    const struct sockaddr *addr = NULL;
    unsigned int flags = c->flags;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (c->address && inet_pton(AF_INET, c->address, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons(c->port);
        addr = (const struct sockaddr *)&a4;
    } else if (c->address && inet_pton(AF_INET6, c->address, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons(c->port);
        addr = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        return NULL;
    }
    struct MHD_OptionItem ops[14];
    int n = 0;
    if (c->no_listen) {
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    } else {
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)addr};
    }
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)c->connection_limit, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)c->connection_timeout, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)c->connection_memory_limit, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_log, uri_log_cls};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, completed_cls};
    if (c->notify_connection) {
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)c->notify_connection,
                                           c->notify_connection_cls};
    }
    // No MHD_OPTION_LISTENING_ADDRESS_REUSE: with it (SO_REUSEPORT) a second process could bind the
    // same address and the kernel would split clients between the two. Start-up must fail instead.
    if (c->thread_pool_size > 1) {
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)c->thread_pool_size, NULL};
    }
    if (c->tls_key_pem && c->tls_cert_pem) {
        flags |= MHD_USE_TLS;
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)c->tls_key_pem};
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)c->tls_cert_pem};
    }
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return MHD_start_daemon(flags, c->port, NULL, NULL, handler, handler_cls, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
}

/// Hands an accepted client to a daemon (which closes it itself if it refuses). 1 on success.
static inline int agw_add_connection(struct MHD_Daemon *d, int fd, const struct sockaddr_storage *addr,
                                     socklen_t len) {
    return MHD_add_connection(d, fd, (const struct sockaddr *)addr, len) == MHD_YES;
}

static inline uint16_t agw_daemon_port(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

/// The daemon's epoll descriptor (MHD_USE_EPOLL): readable when MHD_run has work.
static inline int agw_daemon_epoll_fd(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    return i ? i->epoll_fd : -1;
}

/// Runs an external-mode daemon once and returns how soon (ms) it wants to run again without
/// input on its descriptor: 0 when it left work for later, -1 when it has no timer.
static inline long agw_daemon_run(struct MHD_Daemon *d) {
    MHD_run(d);
    MHD_UNSIGNED_LONG_LONG timeout = 0;
    if (MHD_get_timeout(d, &timeout) != MHD_YES) return -1;
    return timeout > 3600000ULL ? 3600000L : (long)timeout;
}

static inline unsigned int agw_daemon_connections(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

static inline int agw_connection_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return i ? i->connect_fd : -1;
}

/// Writes the client's address as text into `out` (at least INET6_ADDRSTRLEN bytes).
static inline void agw_connection_address(struct MHD_Connection *c, char *out, size_t len) {
    out[0] = 0;
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!i || !i->client_addr) return;
    const struct sockaddr *sa = i->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
    }
}

/// The status MHD queued for this request (its own error answers included), or 0.
static inline unsigned int agw_connection_status(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    return i ? i->http_status : 0;
}

/// MHD_add_response_header for counted (not NUL-terminated) name and value: Swift strings that
/// are stored inline have no terminator, and converting each one allocated a C copy per header.
/// Copies both into a stack buffer (a heap one above 4 KiB). MHD copies them again itself.
static inline enum MHD_Result agw_add_response_header_n(struct MHD_Response *response, const char *name,
                                                        size_t name_length, const char *value,
                                                        size_t value_length) {
    char stack[4096];
    size_t need = name_length + value_length + 2;
    char *buffer = need <= sizeof stack ? stack : (char *)malloc(need);
    if (!buffer) return MHD_NO;
    if (name_length) memcpy(buffer, name, name_length);
    buffer[name_length] = 0;
    if (value_length) memcpy(buffer + name_length + 1, value, value_length);
    buffer[name_length + 1 + value_length] = 0;
    enum MHD_Result result = MHD_add_response_header(response, buffer, buffer + name_length + 1);
    if (buffer != stack) free(buffer);
    return result;
}
