// OpenSSL libcrypto: SHA-256, HMAC-SHA256, constant-time compare, random bytes.
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdatomic.h>

// SHA-256 as an algorithm fetched once. OpenSSL 3 looks the algorithm up by name (a lock, name
// map lookups and a reference count) on every one-shot SHA256() or EVP_sha256() use; per
// forwarded request (the key digest) that showed as ~2% of the gateway's CPU. A fetched EVP_MD
// is immutable and may be shared by all threads (OpenSSL's "Fetching algorithms" rules); it is
// kept for the life of the process. Falls back to the implicit fetch if the explicit one fails.
static inline const EVP_MD *agw_sha256(void) {
    static _Atomic(const EVP_MD *) cached;
    const EVP_MD *md = atomic_load_explicit(&cached, memory_order_acquire);
    if (md != NULL) return md;
    EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    if (fetched == NULL) return EVP_sha256();
    const EVP_MD *expected = NULL;
    if (atomic_compare_exchange_strong(&cached, &expected, fetched)) return fetched;
    EVP_MD_free(fetched); // another thread stored its fetch first
    return expected;
}

// The SHA-256 digest of `count` bytes into `out` (32 bytes). Returns 1 on success.
static inline int agw_sha256_digest(const void *data, size_t count, unsigned char *out) {
    unsigned int length = 0;
    return EVP_Digest(data, count, out, &length, agw_sha256(), NULL);
}
