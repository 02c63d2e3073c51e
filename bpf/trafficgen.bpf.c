/* The throughput bench's traffic generator (scripts/trafficgen.ts runs it with BPF_PROG_TEST_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES, so every run sends a real frame). The frame is one Ethernet/IPv4/UDP datagram without IP
 * options, built by the bench, whose headers user space also stores in `template`. Each run writes those headers
 * afresh, gives the datagram the next source port from a per-CPU counter, so the load balancer sees a stream of
 * distinct flows, and sends it out of the ingress interface with XDP_TX.
 *
 * Why the headers are rewritten every time: live frames live in pages of a page pool that the kernel recycles without
 * copying the original frame back in (it only does so when the program moved data/data_end). Whoever received the
 * frame before (xlb's NAT, the kernel's DNAT and forwarding) has rewritten MACs, addresses, TTL and checksums in that
 * same page, so a recycled frame would go out with the forwarded frame's headers.
 *
 * The UDP checksum is 0 ("not computed", RFC 768), so changing the port needs no checksum update; the IP header is the
 * template's, whose checksum user space computed.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Source ports 1024..65535. */
#define PORT_BASE 1024
#define PORT_SPAN (65536 - PORT_BASE)

struct headers {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
} __attribute__((packed));

/* The frame's headers as user space built them (UDP checksum 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct headers);
} template SEC(".maps");

/* Frames generated on each CPU (a test run stays on one CPU); the next source port derives from it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} generated SEC(".maps");

SEC("xdp")
int xlb_trafficgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct headers *h = data;
	struct headers *t;
	__u32 key = 0;
	__u64 *n;

	if ((void *)(h + 1) > data_end)
		return XDP_ABORTED;
	t = bpf_map_lookup_elem(&template, &key);
	n = bpf_map_lookup_elem(&generated, &key);
	if (!t || !n)
		return XDP_ABORTED;
	__builtin_memcpy(h, t, sizeof(*h));
	h->udp.source = bpf_htons(PORT_BASE + (__u16)(*n % PORT_SPAN));
	*n += 1;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
