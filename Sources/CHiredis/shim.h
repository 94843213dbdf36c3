// hiredis (Debian's libhiredis-dev) for the cluster's shared state. Only the non-variadic
// calls are used (redisCommandArgv), so no shims are needed; the header is all this exposes.
#include <hiredis/hiredis.h>
