/* xlb: the XDP load balancer. Parse; a packet of an established flow goes to its flow's backend, any other finds its
 * service and gets a backend picked; rewrite, forward; count every outcome. ARP requests for the node's VIPs and
 * floating addresses are answered here too, and an HA node does both only until its deadlines (struct xlb_ha).
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
#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2
#define XLB_NS_PER_EVENT (1000000000ull / XLB_EVENTS_PER_SEC)

/* <linux/icmp.h> drags in libc headers that do not build for the BPF target. */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

/* An ARP packet for IPv4 over Ethernet (RFC 826); the addresses are byte arrays, as they sit unaligned. */
struct arp_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
};

struct packet {
	struct ethhdr *eth;
	struct iphdr *iph; /* set once the IPv4 header is known to be whole */
	__be16 *ports;     /* TCP/UDP source and destination port; NULL for ICMP */
	__sum16 *l4_csum;  /* TCP/UDP checksum; NULL for ICMP */
	__u8 syn;          /* a TCP SYN without ACK: opens a flow */
	__u8 new_flow;     /* the packet opened a flow: worth an event */
	__u32 len;         /* frame length, for byte counters */
	__u32 service;     /* service id, for events; XLB_NONE until known */
	__u32 backend;     /* backend index, for events; XLB_NONE until known */
};

/* A map value read, or written, as one 64-bit word: see struct xlb_service and struct xlb_flow. */
union word64 {
	__u64 raw;
	struct xlb_service service;
	struct xlb_flow flow;
};

static __always_inline union word64 load64(const void *value)
{
	union word64 w = { .raw = *(volatile const __u64 *)value };

	return w;
}

static __always_inline void store64(void *value, union word64 w)
{
	*(volatile __u64 *)value = w.raw;
}

/* Whether `addr` may be in half `half` of xlb_filter (0: VIPs, 1: nat backends); false is certain. */
static __always_inline int maybe(__u32 half, __be32 addr)
{
	__u32 bit = xlb_filter_bit(addr);
	__u32 word = half * XLB_FILTER_WORDS + (bit >> 6);
	__u64 *w = bpf_map_lookup_elem(&xlb_filter, &word);

	return w && ((*w >> (bit & 63)) & 1);
}

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

/* Whether HA lets this node forward VIP traffic (`arp` 0) or answer ARP for owned addresses (`arp` 1) now: always on a
 * standalone node; on an HA node only until the deadline its control plane last wrote (struct xlb_ha). The clock is
 * read only on an HA node, once per packet (each packet asks at most once), and it is the coarse one: CLOCK_MONOTONIC
 * as of the last tick, a few loads where the precise clock reads the hardware's (measured: about a third of the
 * cost, README "Performance"). So a node stops up to a tick (1-4 ms) after its deadline, well within the margin the
 * control plane keeps between the deadline and the lease's end. */
static __always_inline int granted(int arp)
{
	__u32 zero = 0;
	struct xlb_ha *ha = bpf_map_lookup_elem(&xlb_ha, &zero);

	if (!ha || !(ha->flags & XLB_HA_ON))
		return 1;
	return bpf_ktime_get_coarse_ns() < (arp ? ha->arp_until_ns : ha->forward_until_ns);
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

/* The backend `index` names if it may carry traffic for a flow pinned at generation `gen`; NULL otherwise. */
static __always_inline struct xlb_backend *live_backend(__u32 index, __u32 gen)
{
	struct xlb_backend *be = bpf_map_lookup_elem(&xlb_backends, &index);

	return be && be->gen == gen && (be->flags & XLB_BE_ALIVE) ? be : NULL;
}

/* A flow's hashes, both from one mix: `slot` picks its Maglev table entry and its xlb_new_flows set (low bits); `fp`,
 * the mix's other word, is its fingerprint there, all 32 bits independent of the set. A packet whose fingerprint
 * matches another flow's takes that flow's pick, so the odds matter: with a flood filling every set, a packet of an
 * established flow meets a stranger's fingerprint once in 2^32 / XLB_NEW_FLOW_WAYS (once in 2^16 when the fingerprint
 * was the slot's own hash, which a million-SYN test hit). Never 0: that marks an empty way. */
struct flow_hash {
	__u32 slot;
	__u32 fp;
};

static __always_inline struct flow_hash flow_hash(const struct xlb_flow_key *key)
{
	struct hash_pair h = hash_3words(key->src, key->dst, ((__u32)key->sport << 16 | key->dport) ^ key->proto);
	struct flow_hash fh = { .slot = h.c, .fp = h.b | !h.b };

	return fh;
}

/* A TCP/UDP packet's flow as the tables know it, looked up once, before the service: an established flow's packet
 * needs no service lookup (its backend carries what it needs of the service). */
struct flow_state {
	struct xlb_flow_key key;
	struct flow_hash h;
	__u64 *opened;         /* its way in xlb_new_flows (not for a SYN), or NULL */
	__u64 w;               /* that way's word */
	struct xlb_flow *flow; /* its xlb_flows entry (looked up when not among new flows, nor a SYN), or NULL */
};

/* The way of the new-flow set of `h` that holds that flow (then *w is its word), or NULL. */
static __always_inline __u64 *new_flow(struct flow_hash h, __u64 *w)
{
	__u32 index = h.slot & (XLB_NEW_FLOW_SETS - 1);
	struct xlb_new_flow_set *set = bpf_map_lookup_elem(&xlb_new_flows, &index);

	if (!set)
		return NULL;
#pragma unroll
	for (int i = 0; i < XLB_NEW_FLOW_WAYS; i++) {
		*w = *(volatile __u64 *)&set->way[i];
		if (XLB_NEW_FLOW_FP(*w) == h.fp)
			return &set->way[i];
	}
	return NULL;
}

/* Into the new-flow set of `h`: over the flow's own way if it has one (a retransmitted SYN), else as the newest. */
static __always_inline void remember_new_flow(struct flow_hash h, const struct xlb_flow *pinned)
{
	__u32 index = h.slot & (XLB_NEW_FLOW_SETS - 1);
	struct xlb_new_flow_set *set = bpf_map_lookup_elem(&xlb_new_flows, &index);
	__u64 w = (__u64)h.fp << 32 | (pinned->gen & 0xffff) << 16 | pinned->backend;

	if (!set)
		return;
#pragma unroll
	for (int i = 0; i < XLB_NEW_FLOW_WAYS; i++) {
		if (XLB_NEW_FLOW_FP(set->way[i]) == h.fp) {
			*(volatile __u64 *)&set->way[i] = w;
			return;
		}
	}
#pragma unroll
	for (int i = XLB_NEW_FLOW_WAYS - 1; i > 0; i--)
		*(volatile __u64 *)&set->way[i] = set->way[i - 1];
	*(volatile __u64 *)&set->way[0] = w;
}

/* A new pick for the service: by Maglev hash of the 5-tuple, or the next entry of the ring on this CPU. Sets *pinned
 * to the backend and its generation. The caller has checked table_len. */
static __always_inline struct xlb_backend *pick(const struct xlb_service *svc, __u32 hash, struct xlb_flow *pinned)
{
	__u32 id = svc->id;
	struct xlb_backend *be;
	__u32 n, index, *entry;

	if (svc->flags & XLB_SVC_MAGLEV) {
		/* Multiply-shift maps the hash onto [0, table_len) without a division. */
		n = ((__u64)hash * svc->table_len) >> 32;
	} else {
		__u32 *cursor = bpf_map_lookup_elem(&xlb_rr_cursor, &id);

		if (!cursor)
			return NULL;
		n = *cursor;
		if (n >= svc->table_len) /* the ring shrank under the cursor, or it wrapped */
			n = 0;
		*cursor = n + 1;
	}
	index = ((__u32)id * 2 + (svc->slot & 1)) * XLB_TABLE_SIZE + n;
	entry = bpf_map_lookup_elem(&xlb_tables, &index);
	if (!entry)
		return NULL;
	index = *entry;
	be = bpf_map_lookup_elem(&xlb_backends, &index);
	/* A table may still name a backend that just went down while its successor is being written. */
	if (!be || !(be->flags & XLB_BE_ALIVE))
		return NULL;
	pinned->backend = index;
	pinned->gen = be->gen;
	return be;
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
 * the data plane two array lookups, a coarse clock read and a compare per packet, never a ring buffer write, and
 * never a wakeup (the control plane polls). The coarse clock (a tick's resolution) costs a few loads where the
 * precise one reads the hardware clock, and a token is a millisecond: coarser than the bucket needs no finer. */
static __always_inline void report(const struct packet *p, const struct xlb_service_key *arrived, __u32 outcome)
{
	__u32 zero = 0;
	struct xlb_settings *settings = bpf_map_lookup_elem(&xlb_settings, &zero);
	struct xlb_event_budget *budget;
	struct xlb_event *e;
	__u64 now, elapsed, refill;

	if (!settings || !settings->events)
		return;
	budget = bpf_map_lookup_elem(&xlb_event_budget, &zero);
	if (!budget)
		return;
	now = bpf_ktime_get_coarse_ns();
	elapsed = now - budget->last_ns;
	if (elapsed >= XLB_NS_PER_EVENT) {
		refill = elapsed / XLB_NS_PER_EVENT;
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

/*
 * A TCP/UDP flow's backend when the caller found none alive in the flow table (`fs` says what it found). An
 * established flow (xlb_flows) whose backend is gone is picked afresh, in place. A flow's first packet (a SYN, or any
 * packet of a flow not known) gets a new pick, remembered in xlb_new_flows; its next packet moves it into xlb_flows. So
 * only flows that sent a second packet take room among the established, and a flood of spoofed SYNs or one-packet flows
 * cannot wash them out.
 */
static __always_inline struct xlb_backend *flow_backend(const struct xlb_service *svc, struct packet *p,
							 struct flow_state *fs, __u32 *index)
{
	union word64 pinned = {};
	struct xlb_backend *be;

	if (fs->opened) {
		*fs->opened = 0;
		pinned.flow.backend = XLB_NEW_FLOW_BACKEND(fs->w);
		be = bpf_map_lookup_elem(&xlb_backends, &pinned.flow.backend);
		if (be && (be->gen & 0xffff) == XLB_NEW_FLOW_GEN(fs->w) && (be->flags & XLB_BE_ALIVE)) {
			pinned.flow.gen = be->gen;
		} else {
			be = pick(svc, fs->h.slot, &pinned.flow);
			if (!be)
				return NULL;
			p->new_flow = 1;
		}
		bpf_map_update_elem(&xlb_flows, &fs->key, &pinned.flow, BPF_ANY);
		*index = pinned.flow.backend;
		return be;
	}
	be = pick(svc, fs->h.slot, &pinned.flow);
	if (!be)
		return NULL;
	if (fs->flow)
		store64(fs->flow, pinned); /* its backend is gone: rescheduled, in place */
	else
		remember_new_flow(fs->h, &pinned.flow);
	p->new_flow = 1;
	*index = pinned.flow.backend;
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

/* Whether a packet to service `service` with flags `flags` (XLB_SVC_*) may go on: its IPv4 header intact, its source
 * neither denied nor outside an allow-list. Sets *outcome when not. */
static __always_inline int admitted(struct packet *p, __u32 service, __u32 flags, __u32 *outcome)
{
	if (!ipv4_header_intact(p->iph)) {
		*outcome = XLB_DROP_BAD_CHECKSUM;
		return 0;
	}
	if ((flags & XLB_SVC_DENY) && denied(p->iph->saddr)) {
		*outcome = XLB_DROP_DENIED;
		return 0;
	}
	if ((flags & XLB_SVC_ALLOW) && !allowed(service, p->iph->saddr)) {
		*outcome = XLB_DROP_NOT_ALLOWED;
		return 0;
	}
	return 1;
}

/* To backend `be` (index `index`) of service p->service with flags `flags`: rewrite, forward, count. */
static __always_inline int forward(struct xdp_md *ctx, struct packet *p, const struct xlb_backend *be, __u32 index,
				   __u32 flags, __u32 *outcome)
{
	p->backend = index;
	if (!(flags & XLB_SVC_DSR))
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
	count(&xlb_service_stats, p->service, p->len, p->new_flow);
	count(&xlb_backend_stats, index, p->len, p->new_flow);
	return *outcome == XLB_TX ? XDP_TX : XDP_REDIRECT;
}

/* Client -> VIP, a packet of an established flow on its live backend: the service as the backend carries it. */
static __always_inline int to_pinned(struct xdp_md *ctx, struct packet *p, const struct xlb_backend *be, __u32 index,
				     __u32 *outcome)
{
	__u32 flags = be->flags >> XLB_BE_SVC_SHIFT;

	p->service = be->service;
	if (!admitted(p, p->service, flags, outcome))
		return XDP_DROP;
	return forward(ctx, p, be, index, flags, outcome);
}

/* Client -> VIP, any other packet: by the service. `fs` is the TCP/UDP flow's state, NULL for ICMP. */
static __always_inline int to_backend(struct xdp_md *ctx, struct packet *p, const struct xlb_service *svc,
				      struct flow_state *fs, __u32 *outcome)
{
	struct xlb_backend *be;
	__u32 index = 0;

	p->service = svc->id;
	if (!admitted(p, svc->id, svc->flags, outcome))
		return XDP_DROP;
	if (!svc->table_len) {
		*outcome = XLB_DROP_NO_BACKEND;
		return XDP_DROP;
	}

	if (fs) {
		be = flow_backend(svc, p, fs, &index);
	} else {
		struct xlb_service ring = *svc;
		struct xlb_flow pinned = {};

		/* ICMP echo: every request is the next of the ring, whatever the scheduler. */
		ring.flags &= ~XLB_SVC_MAGLEV;
		be = pick(&ring, 0, &pinned);
		index = pinned.backend;
	}
	if (!be) {
		*outcome = XLB_DROP_NO_BACKEND;
		return XDP_DROP;
	}
	return forward(ctx, p, be, index, svc->flags, outcome);
}

/*
 * Backend -> client reply of a NAT service: translate the source back to the VIP side, then forward it like a router
 * would (TTL decremented) when the kernel knows the next hop, else hand it to the kernel to resolve and forward.
 * Only a reply to a flow this node sent to that backend is one: the flow it answers must be pinned to the backend (or
 * about to be, among new flows), and, when the backend is known to sit behind an interface, the reply must arrive
 * there. Anything else with a backend's address:port as its source (a relay request for VIP-sourced packets, or the
 * answer to a flow long forgotten) is dropped.
 */
static __always_inline int to_client(struct xdp_md *ctx, struct packet *p, const struct xlb_reverse *rev,
				     __u32 *outcome)
{
	struct iphdr *iph = p->iph;
	__be32 old = iph->saddr;
	struct bpf_fib_lookup fib = {};
	struct xlb_flow_key key = {
		.src = iph->daddr, .dst = rev->vip.v4, .sport = p->ports[1], .dport = rev->port, .proto = iph->protocol,
	};
	struct xlb_backend *be;
	struct xlb_flow *flow;
	union word64 pinned;
	__u32 index = rev->backend;
	__u64 w;

	if (!ipv4_header_intact(iph)) {
		*outcome = XLB_DROP_BAD_CHECKSUM;
		return XDP_DROP;
	}
	*outcome = XLB_DROP_STRAY_REPLY;
	be = bpf_map_lookup_elem(&xlb_backends, &index);
	if (!be || (be->ifindex && be->ifindex != ctx->ingress_ifindex))
		return XDP_DROP;
	flow = bpf_map_lookup_elem(&xlb_flows, &key);
	if (flow) {
		pinned = load64(flow);
		if (pinned.flow.backend != index || pinned.flow.gen != be->gen)
			return XDP_DROP;
	} else if (!new_flow(flow_hash(&key), &w) || XLB_NEW_FLOW_BACKEND(w) != index ||
		   XLB_NEW_FLOW_GEN(w) != (be->gen & 0xffff)) {
		return XDP_DROP;
	}
	p->backend = index;

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

/*
 * An ARP request for an address this node owns (xlb_owned: a VIP, or a floating address arriving on its interface) is
 * made its reply in place and sent back: sender our MAC and the address asked for, target the asker, addressed to the
 * asker's hardware address as the request gives it (as Linux answers). Gratuitous ARP (sender address = target
 * address: someone announcing the address), replies, anything not IPv4 over Ethernet and requests for other addresses
 * pass to the kernel untouched. Past an HA node's ARP deadline a request for an owned address is dropped, so the
 * kernel does not answer for a floating address it still holds either.
 */
static __always_inline int arp(struct xdp_md *ctx, struct ethhdr *eth, void *data_end, __u32 *outcome)
{
	struct arp_ipv4 *a = (void *)(eth + 1);
	__u32 ifindex = ctx->ingress_ifindex;
	union xlb_addr key = {};
	struct xlb_owned *owned;
	struct xlb_iface *iface;
	__be32 spa, tpa;

	if ((void *)(a + 1) > data_end || a->htype != bpf_htons(ARPHRD_ETHER) || a->ptype != bpf_htons(ETH_P_IP) ||
	    a->hlen != ETH_ALEN || a->plen != 4 || a->op != bpf_htons(ARPOP_REQUEST))
		return XDP_PASS;
	__builtin_memcpy(&spa, a->spa, 4);
	__builtin_memcpy(&tpa, a->tpa, 4);
	if (spa == tpa)
		return XDP_PASS;
	key.v4 = tpa;
	owned = bpf_map_lookup_elem(&xlb_owned, &key);
	if (!owned || (owned->ifindex && owned->ifindex != ifindex))
		return XDP_PASS;
	if (!granted(1)) {
		*outcome = XLB_DROP_STANDBY;
		return XDP_DROP;
	}
	iface = bpf_map_lookup_elem(&xlb_ifaces, &ifindex);
	if (!iface)
		return XDP_PASS; /* no MAC to answer with: the interface was never written, or came back anew */

	__builtin_memcpy(eth->h_dest, a->sha, ETH_ALEN);
	__builtin_memcpy(eth->h_source, iface->mac, ETH_ALEN);
	a->op = bpf_htons(ARPOP_REPLY);
	__builtin_memcpy(a->tha, a->sha, ETH_ALEN);
	__builtin_memcpy(a->tpa, &spa, 4);
	__builtin_memcpy(a->sha, iface->mac, ETH_ALEN);
	__builtin_memcpy(a->spa, &tpa, 4);
	*outcome = XLB_ARP_REPLY;
	return XDP_TX;
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
	struct xlb_service *value;
	struct xlb_reverse_key rkey = {};
	struct xlb_reverse *rev;
	struct flow_state fs = {};
	struct iphdr *iph;
	__u32 ip_len, l4_len;
	int vip;
	void *l4;

	if ((void *)(p.eth + 1) > data_end)
		goto out;
	if (p.eth->h_proto != bpf_htons(ETH_P_IP)) {
		if (p.eth->h_proto != bpf_htons(ETH_P_ARP))
			goto out;
		/* Counted, never reported: a standby's drops of broadcast ARP would only crowd out the events of IP. */
		action = arp(ctx, p.eth, data_end, &outcome);
		count(&xlb_outcomes, outcome, p.len, 0);
		return action;
	}

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
	/* Neither to a VIP nor from a nat backend: none of ours, whatever it holds. */
	vip = maybe(0, iph->daddr);
	if (!vip && !maybe(1, iph->saddr))
		goto out;
	if (iph->ihl != 5 || (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))) {
		if (vip && is_vip(iph->daddr)) {
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

	if (vip && p.ports) {
		fs.key.src = iph->saddr;
		fs.key.dst = iph->daddr;
		fs.key.sport = p.ports[0];
		fs.key.dport = p.ports[1];
		fs.key.proto = iph->protocol;
		fs.h = flow_hash(&fs.key);
		if (!p.syn) {
			/* Among new flows first: a SYN that reopened an established flow's 5-tuple wins over the old pin. */
			fs.opened = new_flow(fs.h, &fs.w);
			fs.flow = fs.opened ? NULL : bpf_map_lookup_elem(&xlb_flows, &fs.key);
		}
		if (fs.flow) {
			union word64 pinned = load64(fs.flow);
			struct xlb_backend *be = live_backend(pinned.flow.backend, pinned.flow.gen);

			if (be) {
				if (!granted(0))
					goto standby;
				action = to_pinned(ctx, &p, be, pinned.flow.backend, &outcome);
				goto out;
			}
		}
	}
	value = vip ? bpf_map_lookup_elem(&xlb_services, &key) : NULL;
	if (value) {
		union word64 svc = load64(value);

		/* Before the pick: a standby's drops leave rr cursors and new flows as they were. */
		if (!granted(0))
			goto standby;
		action = to_backend(ctx, &p, &svc.service, p.ports ? &fs : NULL, &outcome);
		goto out;
	}
	if (!p.ports || !maybe(1, iph->saddr))
		goto out;
	rkey.addr.v4 = iph->saddr;
	rkey.port = p.ports[0];
	rkey.proto = iph->protocol;
	rev = bpf_map_lookup_elem(&xlb_reverse, &rkey);
	if (rev && !is_local(iph->daddr)) {
		if (!granted(0))
			goto standby;
		action = to_client(ctx, &p, rev, &outcome);
	}
	goto out;

standby:
	action = XDP_DROP;
	outcome = XLB_DROP_STANDBY;
	goto out;

l4_malformed:
	/* Only VIP traffic is ours to judge; the kernel checks the rest as it always does. */
	if (vip && is_vip(iph->daddr)) {
		action = XDP_DROP;
		outcome = XLB_DROP_MALFORMED;
	}
out:
	count(&xlb_outcomes, outcome, p.len, 0);
	if (action == XDP_DROP || p.new_flow)
		report(&p, &key, outcome);
	return action;
}

/*
 * The control plane's way to send a frame out of one of the node's interfaces without a packet socket
 * (DataPlane.transmit, e.g. gratuitous ARP on an HA takeover): run with BPF_PROG_TEST_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES, the context's ingress_ifindex naming the interface, it sends the frame it is given out of
 * that interface as it is. Never attached.
 */
SEC("xdp")
int xlb_send(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
