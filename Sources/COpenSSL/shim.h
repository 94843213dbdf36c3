// OpenSSL libcrypto: SHA-256, HMAC-SHA256, constant-time compare, random bytes.
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
