/* Flow hashes: Bob Jenkins' lookup3 final mix over three words (as jhash_3words); its c and b words are two 32-bit
 * hashes of one mix, as lookup3's hashlittle2 returns them. */
#ifndef XLB_HASH_H
#define XLB_HASH_H

#include <linux/types.h>

#define XLB_HASH_SEED 0x786c6221u /* fixed, so every node maps a flow to the same table entry */

static __always_inline __u32 rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

struct hash_pair {
	__u32 c; /* jhash_3words' result */
	__u32 b; /* the mix's second word */
};

static __always_inline struct hash_pair hash_3words(__u32 a, __u32 b, __u32 c)
{
	struct hash_pair h;

	a += XLB_HASH_SEED + (3 << 2);
	b += XLB_HASH_SEED + (3 << 2);
	c += XLB_HASH_SEED + (3 << 2);
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	h.c = c;
	h.b = b;
	return h;
}

#endif
