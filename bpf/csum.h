/* Internet checksum primitives (RFC 1071 sums, RFC 1624 incremental updates), named after the kernel's. */
#ifndef XLB_CSUM_H
#define XLB_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field changing from `from` to `to`. */
static __always_inline void csum_replace2(__sum16 *sum, __be16 from, __be16 to)
{
	__u32 s = (__u16)~*sum + (__u16)~from + (__u16)to;
	*sum = csum_fold(s);
}

/* The same for a 32-bit field, taken as its two 16-bit halves. */
static __always_inline void csum_replace4(__sum16 *sum, __be32 from, __be32 to)
{
	__u32 s = (__u16)~*sum;
	s += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	s += (to & 0xffff) + (to >> 16);
	*sum = csum_fold(s);
}

/* UDP sends "no checksum" as 0, so a computed 0 goes out as its other one's-complement form, 0xffff. */
static __always_inline void udp_csum_replace4(__sum16 *sum, __be32 from, __be32 to)
{
	if (!*sum)
		return;
	csum_replace4(sum, from, to);
	if (!*sum)
		*sum = 0xffff;
}

static __always_inline void udp_csum_replace2(__sum16 *sum, __be16 from, __be16 to)
{
	if (!*sum)
		return;
	csum_replace2(sum, from, to);
	if (!*sum)
		*sum = 0xffff;
}

/* True when a 20-byte IPv4 header (no options: the caller has checked) sums to all ones, i.e. is intact. */
static __always_inline int ipv4_header_intact(const void *iph)
{
	const __u16 *w = iph;
	__u32 s = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		s += w[i];
	return csum_fold(s) == 0;
}

#endif
