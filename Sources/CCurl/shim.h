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
