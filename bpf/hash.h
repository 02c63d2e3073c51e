/* Flow hashes: Bob Jenkins' lookup3 final mix over three words (as jhash_3words), under two seeds. */
#ifndef XLB_HASH_H
#define XLB_HASH_H

#include <linux/types.h>

#define XLB_HASH_SEED 0x786c6221u /* fixed, so every node maps a flow to the same table entry */
#define XLB_FP_SEED 0x66703a32u   /* another, so a flow's fingerprint tells nothing of its slot and vice versa */

static __always_inline __u32 rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

static __always_inline __u32 hash_3words(__u32 a, __u32 b, __u32 c, __u32 seed)
{
	a += seed + (3 << 2);
	b += seed + (3 << 2);
	c += seed + (3 << 2);
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

#endif
