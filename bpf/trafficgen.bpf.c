/* The throughput bench's traffic generator (scripts/trafficgen.ts runs it with BPF_PROG_TEST_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES, so every run sends a real frame). The frame is one Ethernet/IPv4/UDP datagram without IP
 * options, built by the bench, whose headers user space also stores in `template`. Each run writes those headers
 * afresh, makes the datagram the next flow of a per-CPU counter (`flows` says how many ports and source addresses
 * there are to go through), and sends it out of the ingress interface with XDP_TX.
 *
 * Why the headers are rewritten every time: live frames live in pages of a page pool that the kernel recycles without
 * copying the original frame back in (it only does so when the program moved data/data_end). Whoever received the
 * frame before (xlb's NAT, the kernel's DNAT and forwarding) has rewritten MACs, addresses, TTL and checksums in that
 * same page, so a recycled frame would go out with the forwarded frame's headers.
 *
 * The UDP checksum is 0 ("not computed", RFC 768), so changing the port needs no checksum update; the IP header is the
 * template's, whose checksum user space computed, updated for the source address.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PORT_BASE 1024

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

/* Flow n (n counts the frames) has source port PORT_BASE + n % ports and source address template's + n / ports %
 * addresses: ports frames in a row differ in their port, then the address moves on. */
struct flows {
	__u32 ports;     /* 1..64512 */
	__u32 addresses; /* >= 1 */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flows);
} flows SEC(".maps");

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
	struct flows *f;
	__u32 key = 0, step, sum;
	__u64 *n, flow;

	if ((void *)(h + 1) > data_end)
		return XDP_ABORTED;
	t = bpf_map_lookup_elem(&template, &key);
	f = bpf_map_lookup_elem(&flows, &key);
	n = bpf_map_lookup_elem(&generated, &key);
	if (!t || !f || !n || !f->ports || !f->addresses)
		return XDP_ABORTED;
	__builtin_memcpy(h, t, sizeof(*h));
	flow = *n;
	h->udp.source = bpf_htons(PORT_BASE + (__u16)(flow % f->ports));
	step = (flow / f->ports) % f->addresses;
	if (step) {
		/* The address grows by `step` in its low 16 bits (user space keeps it from carrying out of them), and the
		 * header checksum falls by as much, in one's complement. */
		h->ip.saddr = bpf_htonl(bpf_ntohl(t->ip.saddr) + step);
		sum = (__u16)~bpf_ntohs(h->ip.check) + step;
		sum = (sum & 0xffff) + (sum >> 16);
		h->ip.check = bpf_htons(~((sum & 0xffff) + (sum >> 16)) & 0xffff);
	}
	*n += 1;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
