/* The decoder's innermost loop, written with GCC/Clang vector extensions so it vectorises the same way on
 * x86-64 (SSE2 baseline) and aarch64 (NEON) without architecture flags or intrinsics.
 *
 * For n MSB-first 16-bit samples: store them native-endian to dst, and return through the pointers
 * - plain    = sum of samples                         (mod 2**32)
 * - weighted = sum of (i + 1) * sample_i, i from 0     (mod 2**32)
 * - ored     = OR of all samples (0 means an all-zero run)
 * - count    = number of samples >= level
 * The weighted sum is kept add-only, Fletcher style: per lane s1 += v and, per step of 8 samples, s2 += s1;
 * then sum_t t * v[t][j] = T * s1[j] - s2[j] recovers the position weights without a multiply per sample.
 */
#ifndef QHY_DECODE_SIMD_H
#define QHY_DECODE_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__clang__)
#define QHY_WIDEN(x, zero, a, b, c, d) __builtin_shufflevector(x, zero, a, a + 8, b, b + 8, c, c + 8, d, d + 8)
#else
#define QHY_WIDEN(x, zero, a, b, c, d) __builtin_shuffle(x, zero, (qhy_v8u16){a, a + 8, b, b + 8, c, c + 8, d, d + 8})
#endif

typedef uint16_t qhy_v8u16 __attribute__((vector_size(16)));
typedef uint32_t qhy_v4u32 __attribute__((vector_size(16)));

/* n must be below 8 * 65536 (it is at most one row) so the 16-bit per-lane counters cannot wrap. */
static inline void qhy_decode16(const uint16_t *src, uint16_t *dst, size_t n, uint16_t level,
                                uint32_t *plain, uint32_t *weighted, uint16_t *ored, uint32_t *count)
{
    const qhy_v8u16 zero = {0};
    const qhy_v8u16 lvl = {level, level, level, level, level, level, level, level};
    qhy_v4u32 s1_lo = {0}, s1_hi = {0}, s2_lo = {0}, s2_hi = {0};
    qhy_v8u16 acc_or = {0}, acc_count = {0};
    size_t steps = n / 8, t, i;
    uint32_t p = 0, w = 0, c = 0;
    uint16_t o = 0;
    for (t = 0; t < steps; t++) {
        qhy_v8u16 x;
        memcpy(&x, src + 8 * t, sizeof x);
        x = (qhy_v8u16)((x << 8) | (x >> 8));
        memcpy(dst + 8 * t, &x, sizeof x);
        /* widen to 32 bits by interleaving with zeros (little-endian lanes): samples 0-3 and 4-7 */
        s1_lo += (qhy_v4u32)QHY_WIDEN(x, zero, 0, 1, 2, 3);
        s1_hi += (qhy_v4u32)QHY_WIDEN(x, zero, 4, 5, 6, 7);
        s2_lo += s1_lo;
        s2_hi += s1_hi;
        acc_or |= x;
        acc_count -= (qhy_v8u16)(x >= lvl); /* a true comparison is all ones, i.e. -1 */
    }
    for (i = 0; i < 4; i++) {
        p += s1_lo[i] + s1_hi[i];
        w += 8u * ((uint32_t)steps * s1_lo[i] - s2_lo[i]) + (uint32_t)(i + 1) * s1_lo[i];
        w += 8u * ((uint32_t)steps * s1_hi[i] - s2_hi[i]) + (uint32_t)(i + 5) * s1_hi[i];
    }
    for (i = 0; i < 8; i++) {
        o |= acc_or[i];
        c += acc_count[i];
    }
    for (i = steps * 8; i < n; i++) {
        uint16_t y = src[i];
        y = (uint16_t)((y << 8) | (y >> 8));
        dst[i] = y;
        p += y;
        w += (uint32_t)(i + 1) * y;
        o |= y;
        c += y >= level;
    }
    *plain = p;
    *weighted = w;
    *ored = o;
    *count = c;
}

#endif
