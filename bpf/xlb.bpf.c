/* xlb: the XDP load balancer. Parse, find the service, pick a backend, rewrite, forward; count every outcome.
 *
 * Outcomes (enum xlb_outcome) are the contract with operators; README.md "Data plane outcomes" documents them.
 * The one rule that never bends: a frame is forwarded (XDP_TX / redirect) only after its headers were checked.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xlb_layout.h"
#include "maps.h"
#include "csum.h"
#include "hash.h"

#define AF_INET 2
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define ICMP_ECHO 8
#define XLB_NS_PER_EVENT (1000000000ull / XLB_EVENTS_PER_SEC)

/* <linux/icmp.h> drags in libc headers that do not build for the BPF target. */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

struct packet {
	struct ethhdr *eth;
	struct iphdr *iph; /* set once the IPv4 header is known to be whole */
	__be16 *ports;     /* TCP/UDP source and destination port; NULL for ICMP */
	__sum16 *l4_csum;  /* TCP/UDP checksum; NULL for ICMP */
	__u8 syn;          /* a TCP SYN without ACK: opens a flow, so there is none to look up */
	__u8 new_flow;     /* the packet opened a flow: worth an event */
	__u32 len;         /* frame length, for byte counters */
	__u32 service;     /* service id, for events; XLB_NONE until known */
	__u32 backend;     /* backend index, for events; XLB_NONE until known */
};

static __always_inline int is_vip(__be32 addr)
{
	union xlb_addr key = {};

	key.v4 = addr;

	return bpf_map_lookup_elem(&xlb_vips, &key) != NULL;
}

static __always_inline int is_local(__be32 addr)
{
	union xlb_addr key = {};

	key.v4 = addr;
	return bpf_map_lookup_elem(&xlb_local, &key) != NULL;
}

static __always_inline void count(void *map, __u32 index, __u32 len, __u32 flows_new)
{
	struct xlb_counters *c = bpf_map_lookup_elem(map, &index);

	if (c) {
		c->packets++;
		c->bytes += len;
		c->flows_new += flows_new;
	}
}

/* The backend table entry for the service's nth pick. */
static __always_inline __u32 *table_entry(const struct xlb_service *svc, __u32 n)
{
	__u32 index = ((svc->id << 1) | (svc->slot & 1)) * XLB_TABLE_SIZE + n % svc->table_len;

	return bpf_map_lookup_elem(&xlb_tables, &index);
}

static __always_inline __u32 *next_in_ring(const struct xlb_service *svc)
{
	__u32 id = svc->id;
	__u32 *cursor = bpf_map_lookup_elem(&xlb_rr_cursor, &id);

	if (!cursor)
		return NULL;
	return table_entry(svc, __sync_fetch_and_add(cursor, 1));
}

static __always_inline int denied(__be32 saddr)
{
	struct xlb_deny_key key = {};

	key.prefixlen = 32;
	key.addr.v4 = saddr;
	return bpf_map_lookup_elem(&xlb_deny, &key) != NULL;
}

static __always_inline int allowed(__u32 service, __be32 saddr)
{
	struct xlb_allow_key key = {};

	key.prefixlen = 64;
	key.service = service;
	key.addr.v4 = saddr;
	return bpf_map_lookup_elem(&xlb_allow, &key) != NULL;
}

/* An event for the control plane, if someone listens and this CPU's token bucket allows: a flood of drops costs
 * the data plane a map lookup and a compare per packet, never a ring buffer write, and never a wakeup (the control
 * plane polls). */
static __always_inline void report(const struct packet *p, const struct xlb_service_key *arrived, __u32 outcome)
{
	__u32 zero = 0;
	struct xlb_settings *settings = bpf_map_lookup_elem(&xlb_settings, &zero);
	struct xlb_event_budget *budget;
	struct xlb_event *e;
	__u64 now, refill;

	if (!settings || !settings->events)
		return;
	budget = bpf_map_lookup_elem(&xlb_event_budget, &zero);
	if (!budget)
		return;
	now = bpf_ktime_get_ns();
	refill = (now - budget->last_ns) / XLB_NS_PER_EVENT;
	if (refill) {
		/* A full bucket forgets the time it sat full; otherwise the remainder carries to the next token. */
		if (budget->tokens + refill >= XLB_EVENTS_PER_SEC) {
			budget->tokens = XLB_EVENTS_PER_SEC;
			budget->last_ns = now;
		} else {
			budget->tokens += refill;
			budget->last_ns += refill * XLB_NS_PER_EVENT;
		}
	}
	if (!budget->tokens) {
		budget->suppressed++;
		return;
	}
	e = bpf_ringbuf_reserve(&xlb_events, sizeof(*e), 0);
	if (!e) {
		budget->suppressed++;
		return;
	}
	budget->tokens--;
	budget->sent++;
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = now;
	e->outcome = outcome;
	e->service = p->service;
	e->backend = p->backend;
	/* The destination as it arrived: NAT has rewritten the frame by now. */
	e->dst = arrived->vip;
	e->dport = arrived->port;
	e->proto = arrived->proto;
	if (p->iph)
		e->src.v4 = p->iph->saddr;
	if (p->ports)
		e->sport = p->ports[0];
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* A TCP/UDP flow's backend: the one it is pinned to while that one is alive, else a new pick, remembered. */
static __always_inline struct xlb_backend *flow_backend(const struct xlb_service *svc, struct packet *p,
							 __u32 *index)
{
	/* Zeroed whole, then filled: a designated initializer would leave the rest of each address union undefined,
	 * and hash keys are compared byte by byte. */
	struct xlb_flow_key key = {};
	struct xlb_flow *flow;
	struct xlb_backend *be;
	__u32 *entry;

	key.src.v4 = p->iph->saddr;
	key.dst.v4 = p->iph->daddr;
	key.sport = p->ports[0];
	key.dport = p->ports[1];
	key.proto = p->iph->protocol;
	/* A new key's bucket is a cold cache line, the dearest part of a new flow (about 230 ns here): a SYN skips the
	 * lookup and pays for the line once, in the insert. A retransmitted SYN is then scheduled afresh: the same
	 * backend under Maglev, possibly another under rr, where it is a new connection attempt all the same. */
	flow = p->syn ? NULL : bpf_map_lookup_elem(&xlb_flows, &key);
	if (flow) {
		*index = flow->backend;
		be = bpf_map_lookup_elem(&xlb_backends, index);
		if (be && be->gen == flow->gen && (be->flags & XLB_BE_ALIVE))
			return be;
	}

	if (svc->flags & XLB_SVC_MAGLEV)
		entry = table_entry(svc, hash_3words(key.src.v4, key.dst.v4,
						     ((__u32)key.sport << 16 | key.dport) ^ key.proto));
	else
		entry = next_in_ring(svc);
	if (!entry)
		return NULL;
	*index = *entry;
	be = bpf_map_lookup_elem(&xlb_backends, index);
	/* A table may still name a backend that just went down while its successor is being written. */
	if (!be || !(be->flags & XLB_BE_ALIVE))
		return NULL;

	struct xlb_flow pinned = { .backend = *index, .gen = be->gen };

	bpf_map_update_elem(&xlb_flows, &key, &pinned, BPF_ANY);
	p->new_flow = 1;
	return be;
}

static __always_inline void nat_to_backend(struct packet *p, const struct xlb_backend *be)
{
	struct iphdr *iph = p->iph;
	__be32 old = iph->daddr;

	iph->daddr = be->addr.v4;
	csum_replace4(&iph->check, old, be->addr.v4);
	if (!p->ports)
		return;
	if (iph->protocol == IPPROTO_UDP) {
		udp_csum_replace4(p->l4_csum, old, be->addr.v4);
		if (be->port && be->port != p->ports[1]) {
			udp_csum_replace2(p->l4_csum, p->ports[1], be->port);
			p->ports[1] = be->port;
		}
	} else {
		csum_replace4(p->l4_csum, old, be->addr.v4);
		if (be->port && be->port != p->ports[1]) {
			csum_replace2(p->l4_csum, p->ports[1], be->port);
			p->ports[1] = be->port;
		}
	}
}

/* Client -> VIP: returns the verdict and sets *outcome. */
static __always_inline int to_backend(struct xdp_md *ctx, struct packet *p, const struct xlb_service *svc,
				      __u32 *outcome)
{
	struct xlb_backend *be;
	__u32 index = 0;
	__u32 *entry;

	p->service = svc->id;
	if (!ipv4_header_intact(p->iph)) {
		*outcome = XLB_DROP_BAD_CHECKSUM;
		return XDP_DROP;
	}
	if ((svc->flags & XLB_SVC_DENY) && denied(p->iph->saddr)) {
		*outcome = XLB_DROP_DENIED;
		return XDP_DROP;
	}
	if ((svc->flags & XLB_SVC_ALLOW) && !allowed(svc->id, p->iph->saddr)) {
		*outcome = XLB_DROP_NOT_ALLOWED;
		return XDP_DROP;
	}
	if (!svc->table_len) {
		*outcome = XLB_DROP_NO_BACKEND;
		return XDP_DROP;
	}

	if (p->ports) {
		be = flow_backend(svc, p, &index);
	} else {
		be = NULL;
		entry = next_in_ring(svc);
		if (entry) {
			index = *entry;
			be = bpf_map_lookup_elem(&xlb_backends, &index);
			if (be && !(be->flags & XLB_BE_ALIVE))
				be = NULL;
		}
	}
	if (!be) {
		*outcome = XLB_DROP_NO_BACKEND;
		return XDP_DROP;
	}
	p->backend = index;

	if (!(svc->flags & XLB_SVC_DSR))
		nat_to_backend(p, be);
	__builtin_memcpy(p->eth->h_dest, be->mac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, be->src_mac, ETH_ALEN);

	if (!be->ifindex || be->ifindex == ctx->ingress_ifindex) {
		*outcome = XLB_TX;
	} else if (bpf_redirect_map(&xlb_egress, be->ifindex, XDP_DROP) == XDP_REDIRECT) {
		*outcome = XLB_REDIRECT;
	} else {
		*outcome = XLB_DROP_NO_EGRESS;
		return XDP_DROP;
	}
	count(&xlb_service_stats, svc->id, p->len, p->new_flow);
	count(&xlb_backend_stats, index, p->len, p->new_flow);
	return *outcome == XLB_TX ? XDP_TX : XDP_REDIRECT;
}

/* Backend -> client reply of a NAT service: translate the source back to the VIP side, then forward it like a router
 * would (TTL decremented) when the kernel knows the next hop, else hand it to the kernel to resolve and forward. */
static __always_inline int to_client(struct xdp_md *ctx, struct packet *p, const struct xlb_reverse *rev,
				     __u32 *outcome)
{
	struct iphdr *iph = p->iph;
	__be32 old = iph->saddr;
	struct bpf_fib_lookup fib = {};

	if (!ipv4_header_intact(iph)) {
		*outcome = XLB_DROP_BAD_CHECKSUM;
		return XDP_DROP;
	}

	iph->saddr = rev->vip.v4;
	csum_replace4(&iph->check, old, rev->vip.v4);
	if (iph->protocol == IPPROTO_UDP) {
		udp_csum_replace4(p->l4_csum, old, rev->vip.v4);
		udp_csum_replace2(p->l4_csum, p->ports[0], rev->port);
	} else {
		csum_replace4(p->l4_csum, old, rev->vip.v4);
		csum_replace2(p->l4_csum, p->ports[0], rev->port);
	}
	p->ports[0] = rev->port;

	*outcome = XLB_PASS_REVERSE;
	if (iph->ttl <= 1)
		return XDP_PASS; /* the kernel answers with ICMP time exceeded */

	fib.family = AF_INET;
	fib.tos = iph->tos;
	fib.l4_protocol = iph->protocol;
	fib.sport = p->ports[0];
	fib.dport = p->ports[1];
	fib.tot_len = bpf_ntohs(iph->tot_len);
	fib.ipv4_src = iph->saddr;
	fib.ipv4_dst = iph->daddr;
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	/* The egress is settled before the frame is made a router's: handed to the kernel, it must still be addressed
	 * to this node, or the kernel drops it as another host's. */
	if (fib.ifindex == ctx->ingress_ifindex)
		*outcome = XLB_TX;
	else if (bpf_redirect_map(&xlb_egress, fib.ifindex, XDP_PASS) == XDP_REDIRECT)
		*outcome = XLB_REDIRECT;
	else
		return XDP_PASS;

	/* TTL and protocol share a 16-bit word of the checksum. */
	csum_replace2(&iph->check, bpf_htons(iph->ttl << 8), bpf_htons((iph->ttl - 1) << 8));
	iph->ttl--;
	__builtin_memcpy(p->eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, fib.smac, ETH_ALEN);
	return *outcome == XLB_TX ? XDP_TX : XDP_REDIRECT;
}

SEC("xdp")
int xlb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct packet p = { .eth = data, .len = data_end - data, .service = XLB_NONE, .backend = XLB_NONE };
	__u32 outcome = XLB_PASS_NOT_VIP;
	int action = XDP_PASS;
	struct xlb_service_key key = {};
	struct xlb_service *svc;
	struct xlb_reverse_key rkey = {};
	struct xlb_reverse *rev;
	struct iphdr *iph;
	__u32 ip_len, l4_len;
	void *l4;

	if ((void *)(p.eth + 1) > data_end || p.eth->h_proto != bpf_htons(ETH_P_IP))
		goto out;

	/* The kernel's ip_rcv drops what fails these checks, so dropping here loses nothing it would have kept. */
	iph = (void *)(p.eth + 1);
	action = XDP_DROP;
	outcome = XLB_DROP_MALFORMED;
	if ((void *)(iph + 1) > data_end || iph->version != 4 || iph->ihl < 5)
		goto out;
	ip_len = bpf_ntohs(iph->tot_len);
	if (ip_len < iph->ihl * 4 || (void *)iph + ip_len > data_end)
		goto out;
	p.iph = iph;
	key.vip.v4 = iph->daddr;
	key.proto = iph->protocol;

	action = XDP_PASS;
	outcome = XLB_PASS_NOT_VIP;
	if (iph->ihl != 5 || (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))) {
		if (is_vip(iph->daddr)) {
			action = XDP_DROP;
			outcome = iph->ihl != 5 ? XLB_DROP_IP_OPTIONS : XLB_DROP_FRAGMENT;
		}
		goto out;
	}

	l4 = iph + 1;
	l4_len = ip_len - sizeof(*iph);
	switch (iph->protocol) {
	case IPPROTO_ICMP: {
		struct icmphdr *icmp = l4;

		if ((void *)(icmp + 1) > data_end || l4_len < sizeof(*icmp))
			goto l4_malformed;
		if (icmp->type != ICMP_ECHO)
			goto out;
		break;
	}
	case IPPROTO_TCP: {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end || tcp->doff < 5 || tcp->doff * 4 > l4_len)
			goto l4_malformed;
		p.ports = &tcp->source;
		p.l4_csum = &tcp->check;
		p.syn = tcp->syn && !tcp->ack;
		key.port = tcp->dest;
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end || l4_len < sizeof(*udp) || bpf_ntohs(udp->len) < sizeof(*udp) ||
		    bpf_ntohs(udp->len) > l4_len)
			goto l4_malformed;
		p.ports = &udp->source;
		p.l4_csum = &udp->check;
		key.port = udp->dest;
		break;
	}
	default:
		goto out;
	}

	svc = bpf_map_lookup_elem(&xlb_services, &key);
	if (svc) {
		action = to_backend(ctx, &p, svc, &outcome);
		goto out;
	}
	if (!p.ports)
		goto out;
	rkey.addr.v4 = iph->saddr;
	rkey.port = p.ports[0];
	rkey.proto = iph->protocol;
	rev = bpf_map_lookup_elem(&xlb_reverse, &rkey);
	if (rev && !is_local(iph->daddr))
		action = to_client(ctx, &p, rev, &outcome);
	goto out;

l4_malformed:
	/* Only VIP traffic is ours to judge; the kernel checks the rest as it always does. */
	if (is_vip(iph->daddr)) {
		action = XDP_DROP;
		outcome = XLB_DROP_MALFORMED;
	}
out:
	count(&xlb_outcomes, outcome, p.len, 0);
	if (action == XDP_DROP || p.new_flow)
		report(&p, &key, outcome);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
