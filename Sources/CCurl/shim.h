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

