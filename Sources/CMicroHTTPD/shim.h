// libmicrohttpd, plus inline shims for the variadic calls Swift cannot make.
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>
