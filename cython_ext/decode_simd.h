/* The decoder's innermost loop, written with GCC/Clang vector extensions so it vectorises the same way on
 * x86-64 (SSE2 baseline) and aarch64 (NEON) without architecture flags or intrinsics.
 *
 * For n MSB-first 16-bit samples: store them native-endian to dst, and return through the pointers
 * - ored  = OR of all samples (0 means an all-zero run)
 * - count = number of samples >= level
 */
#ifndef QHY_DECODE_SIMD_H
#define QHY_DECODE_SIMD_H

#include <stdint.h>
#include <string.h>

typedef uint16_t qhy_v8u16 __attribute__((vector_size(16)));

/* n must be below 8 * 65536 (it is at most one row) so the 16-bit per-lane counters cannot wrap. */
static inline void qhy_decode16(const uint16_t *src, uint16_t *dst, size_t n, uint16_t level, uint16_t *ored,
                                uint32_t *count)
{
    const qhy_v8u16 lvl = {level, level, level, level, level, level, level, level};
    qhy_v8u16 acc_or = {0}, acc_count = {0};
    size_t steps = n / 8, t, i;
    uint32_t c = 0;
    uint16_t o = 0;
    for (t = 0; t < steps; t++) {
        qhy_v8u16 x;
        memcpy(&x, src + 8 * t, sizeof x);
        x = (qhy_v8u16)((x << 8) | (x >> 8));
        memcpy(dst + 8 * t, &x, sizeof x);
        acc_or |= x;
        acc_count -= (qhy_v8u16)(x >= lvl); /* a true comparison is all ones, i.e. -1 */
    }
    for (i = 0; i < 8; i++) {
        o |= acc_or[i];
        c += acc_count[i];
    }
    for (i = steps * 8; i < n; i++) {
        uint16_t y = src[i];
        y = (uint16_t)((y << 8) | (y >> 8));
        dst[i] = y;
        o |= y;
        c += y >= level;
    }
    *ored = o;
    *count = c;
}

#endif
