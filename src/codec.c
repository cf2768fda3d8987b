/* codec — encodings over OpenSSL's. See include/codec.h. */
#include "codec.h"

#include <limits.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

char *codec_base64(const void *data, size_t len)
{
    if (len > INT_MAX / 4 * 3 - 3) /* EVP_EncodeBlock counts in int */
        return NULL;
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

void codec_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}
