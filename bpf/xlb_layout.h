/* xlb map layouts: the one definition of every key and value the data plane and the control plane share.
 *
 * lb/bpf/layout.ts mirrors this file; test/layout.test.ts proves the two agree against the object's BTF.
 * Byte order: addresses and ports are network order (__be*), everything else host order.
 * Addresses are 16 bytes so IPv6 fits later; an IPv4 address sits in the first word, the rest zero.
 */
#ifndef XLB_LAYOUT_H
#define XLB_LAYOUT_H

#include <linux/types.h>

/* Capacities. Overridable at build time; lb/bpf/layout.ts reads the built values from the object. */
#ifndef XLB_MAX_SERVICES
#define XLB_MAX_SERVICES 256
#endif
#ifndef XLB_MAX_BACKENDS
#define XLB_MAX_BACKENDS 4096
#endif
/* Entries of one backend table (rr ring or Maglev lookup table). Prime, as Maglev needs; every service owns two
 * tables (see struct xlb_service.slot), so the table map holds XLB_MAX_SERVICES * 2 * XLB_TABLE_SIZE u32s (32 MiB). */
#ifndef XLB_TABLE_SIZE
#define XLB_TABLE_SIZE 16381
#endif
#ifndef XLB_MAX_FLOWS
#define XLB_MAX_FLOWS 1048576
#endif
/* Sets of xlb_new_flows (see there): a power of two. 16384 sets of 32 bytes (512 KiB) keep a new flow through about
 * 65 ms of a flood of a million new flows a second; four times as many would keep it four times longer, for about 0.2
 * floors more per SYN (README "Performance"). */
#ifndef XLB_NEW_FLOW_SETS
#define XLB_NEW_FLOW_SETS 16384
#endif
#define XLB_NEW_FLOW_WAYS 4
/* Each half of xlb_filter has 2^XLB_FILTER_LOG2 bits. */
#ifndef XLB_FILTER_LOG2
#define XLB_FILTER_LOG2 16
#endif
#define XLB_FILTER_WORDS ((1u << XLB_FILTER_LOG2) / 64)
#ifndef XLB_MAX_EGRESS
#define XLB_MAX_EGRESS 64
#endif
/* Floating addresses (ha.floating) the node may hold besides its VIPs; xlb_owned holds both. */
#ifndef XLB_MAX_FLOATING
#define XLB_MAX_FLOATING 64
#endif
#define XLB_MAX_OWNED (XLB_MAX_SERVICES + XLB_MAX_FLOATING)
#ifndef XLB_MAX_PREFIXES
#define XLB_MAX_PREFIXES 16384 /* deny and allow entries, each */
#endif
/* Events each CPU may send per second, in bursts of up to as many; the rest are counted, not sent. */
#ifndef XLB_EVENTS_PER_SEC
#define XLB_EVENTS_PER_SEC 1000
#endif
#ifndef XLB_EVENTS_BYTES
#define XLB_EVENTS_BYTES (256 * 1024)
#endif

union xlb_addr {
	__be32 v4;
	__be32 v6[4];
};

/* xlb_services: which (VIP, protocol, port) is a service. ICMP services use port 0. */
struct xlb_service_key {
	union xlb_addr vip;
	__be16 port;
	__u8 proto; /* IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP */
	__u8 pad;
};

/* struct xlb_service.flags */
#define XLB_SVC_MAGLEV (1u << 0) /* new flows by Maglev hash; else weighted round robin */
#define XLB_SVC_DSR (1u << 1)    /* rewrite the destination MAC only; else NAT */
#define XLB_SVC_DENY (1u << 2)   /* xlb_deny has entries: check the source against it */
#define XLB_SVC_ALLOW (1u << 3)  /* the service has an allow-list in xlb_allow */

/* Eight bytes, read by the data plane in one aligned load: a hash map update may reuse a replaced element for another
 * value while a packet still holds it, so the packet works from one copy, never from fields read at different times. */
struct xlb_service {
	__u16 id;        /* index into xlb_service_stats, xlb_rr_cursor and the table map */
	__u8 flags;      /* XLB_SVC_* */
	/* Which of the service's two tables is live. The control plane fills the other one, then switches by
	 * rewriting this whole value in one map update, so no packet ever reads a half-written table. */
	__u8 slot;
	__u32 table_len; /* live entries in the table; 0: no usable backend */
} __attribute__((aligned(8)));

_Static_assert(sizeof(struct xlb_service) == 8, "struct xlb_service is read as one 64-bit word");
_Static_assert(XLB_MAX_SERVICES <= 65536, "service ids are 16 bits");

/* xlb_tables[(id * 2 + slot) * XLB_TABLE_SIZE + i] = backend index; see struct xlb_service. */

/* struct xlb_backend.flags */
#define XLB_BE_ALIVE (1u << 0) /* may carry traffic: existing flows stay; without it, its flows are rescheduled */
/* Bits 8 to 15: the owning service's XLB_SVC_* flags, so a packet of an established flow finds in its backend all it
 * needs of its service (forwarding, deny and allow checks; the id is in .service) and skips the service lookup. */
#define XLB_BE_SVC_SHIFT 8

_Static_assert(((XLB_SVC_MAGLEV | XLB_SVC_DSR | XLB_SVC_DENY | XLB_SVC_ALLOW) << XLB_BE_SVC_SHIFT) <= 0xffff,
	       "service flags fit the backend's flags");

/* xlb_backends[backend index]: one backend of one service. */
struct xlb_backend {
	union xlb_addr addr;
	__be16 port;    /* where the backend listens (NAT rewrites to it); 0: keep the client's destination port */
	__u16 flags;    /* XLB_BE_* */
	/* Bumped whenever the index is given to another backend, so flows pinned to the old one are rescheduled;
	 * kept when the backend is removed, for the same reason. */
	__u32 gen;
	__u32 ifindex;  /* egress interface; 0 or the receiving one means XDP_TX, another a redirect via xlb_egress */
	__u8 mac[6];    /* next hop's MAC */
	__u8 src_mac[6]; /* egress interface's MAC */
	__u32 service;  /* owning service's id: lets a restarted control plane recover who is where */
};

/* xlb_flows and xlb_new_flows: keyed by the client's 5-tuple as it arrives. IPv4 only: 16 bytes hash and compare
 * faster than a key with room for IPv6, which will get a table of its own. */
struct xlb_flow_key {
	__be32 src;
	__be32 dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* xlb_new_flows[set]: flows seen open (a TCP SYN, or the first packet of a flow not known) and their picks, until
 * their next packet moves them into xlb_flows. A set holds the last XLB_NEW_FLOW_WAYS flows whose 5-tuple hash falls
 * in it, newest first. Each is one 64-bit word, written and read whole, so CPUs writing the same set never mix their
 * entries: the upper 32 bits are the 5-tuple's fingerprint (the hash mix's other word, not the one that chose the set;
 * 0 is an empty way), then the low 16 bits of the backend's generation, then the backend index. Small, so it stays in
 * cache: a flow pushed out of its set before its second packet (by four newer ones, as in a flood) is picked afresh
 * then: the same backend under Maglev, perhaps another under rr; and a NAT reply that comes before that second packet
 * (a SYN-ACK) is taken only while its flow is still in the set. */
struct xlb_new_flow_set {
	__u64 way[XLB_NEW_FLOW_WAYS];
};

#define XLB_NEW_FLOW_BACKEND(w) ((__u32)(w) & 0xffff)
#define XLB_NEW_FLOW_GEN(w) (((__u32)(w) >> 16) & 0xffff)
#define XLB_NEW_FLOW_FP(w) ((__u32)((w) >> 32))

_Static_assert(XLB_MAX_BACKENDS <= 65536, "xlb_new_flows holds 16-bit backend indexes");

/* Written by the data plane as one 64-bit store, so another CPU never reads a backend with another's generation. */
struct xlb_flow {
	__u32 backend; /* backend index */
	__u32 gen;     /* struct xlb_backend.gen when the flow was pinned */
} __attribute__((aligned(8)));

/* xlb_reverse: NAT replies. Keyed by the backend's side of a service, answers with the VIP side. */
struct xlb_reverse_key {
	union xlb_addr addr; /* backend address */
	__be16 port;         /* backend port */
	__u8 proto;
	__u8 pad;
};

struct xlb_reverse {
	union xlb_addr vip;
	__be16 port; /* service port */
	__u16 pad;
	/* The backend's index: a packet is a reply only if the flow it answers was sent to this backend. */
	__u32 backend;
};

/* xlb_filter[]: two sets of bits over IPv4 addresses, in 64-bit words: words [0, XLB_FILTER_WORDS) hold a bit for
 * every VIP, the next XLB_FILTER_WORDS one for every nat backend address. A clear bit proves an address is neither,
 * so most traffic that is not the load balancer's passes after two array reads, without a hash lookup. An address's
 * bit is xlb_filter_bit(addr), addr being its four network-order bytes read as a host-order u32. */
#define XLB_FILTER_MUL 0x9e3779b1u

static inline __u32 xlb_filter_bit(__u32 addr)
{
	return (addr * XLB_FILTER_MUL) >> (32 - XLB_FILTER_LOG2);
}

/* xlb_deny: source prefixes dropped for every VIP. An IPv4 prefix counts its bits from the start of addr. */
struct xlb_deny_key {
	__u32 prefixlen;
	union xlb_addr addr;
};

/* xlb_allow: per-service source allow-lists; prefixlen = 32 (the service) + the prefix's own length. */
struct xlb_allow_key {
	__u32 prefixlen;
	__u32 service; /* service id */
	union xlb_addr addr;
};

/* xlb_events: new flows and drops, as the data plane saw them. Sampled: see XLB_EVENTS_PER_SEC. */
struct xlb_event {
	__u64 time_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	union xlb_addr src;
	union xlb_addr dst; /* as the packet arrived, before any rewrite */
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 outcome; /* enum xlb_outcome */
	__u16 pad;
	__u32 service; /* service id, or XLB_NONE */
	__u32 backend; /* backend index, or XLB_NONE */
};

#define XLB_NONE 0xffffffffu

/* xlb_event_budget: each CPU's token bucket for events. */
struct xlb_event_budget {
	__u64 tokens;
	__u64 last_ns;
	__u64 sent;
	__u64 suppressed; /* over budget, or the ring buffer was full */
};

/* xlb_settings[0]: switches the control plane flips at run time. */
struct xlb_settings {
	__u32 events; /* non-zero while someone reads xlb_events */
	__u32 pad;
};

/* xlb_owned: the addresses this node answers ARP for, keyed by union xlb_addr: every VIP, on any interface, and every
 * floating address (an address only the active node of an HA pair holds, e.g. the backends' gateway), on its own. */
struct xlb_owned {
	__u32 ifindex; /* the interface ARP for it is answered on; 0: any */
};

/* xlb_ifaces[ifindex]: the node's interfaces as the data plane needs them, written by the control plane at attach. */
struct xlb_iface {
	__u8 mac[6]; /* the interface's own MAC: the sender of its ARP replies */
	__u16 pad;
};

/* struct xlb_ha.flags */
#define XLB_HA_ON (1u << 0) /* one node of an HA pair: forward and answer ARP only until the deadlines below */

/* xlb_ha[0]: what an HA node may do on the wire, and until when, in CLOCK_MONOTONIC ns (as bpf_ktime_get_ns() reads
 * it). Without XLB_HA_ON (a standalone node) VIP traffic is forwarded and ARP for owned addresses answered, always.
 * With it, VIP traffic, NAT replies included, is forwarded only while now < forward_until_ns, and ARP for owned
 * addresses answered only while now < arp_until_ns; past a deadline they are dropped (XLB_DROP_STANDBY). "Now" is the
 * coarse clock, up to a tick behind: a node stops up to a tick late. The control plane moves the deadlines on with each
 * renewal of its lease, each short of the lease's end, so a control plane that stalls (a stopped process, a long pause)
 * takes its node off the wire by itself: nothing has to be written for the node to stop. Written whole, in one map
 * update. */
struct xlb_ha {
	__u64 forward_until_ns;
	__u64 arp_until_ns;
	__u32 flags; /* XLB_HA_* */
	__u32 pad;
};

/* Per-CPU counters. Each CPU owns its copy, so plain increments are safe; readers sum over CPUs. */
struct xlb_counters {
	__u64 packets;
	__u64 bytes;
	__u64 flows_new;
};

/* xlb_outcomes[outcome]: what happened to every packet the program saw. Names in lb/bpf/layout.ts. */
enum xlb_outcome {
	XLB_PASS_NOT_VIP = 0,   /* not for a service: handed to the kernel untouched */
	XLB_TX,                 /* forwarded out of the receiving interface */
	XLB_REDIRECT,           /* forwarded through xlb_egress */
	XLB_PASS_REVERSE,       /* NAT reply translated, no cached route: handed to the kernel to forward */
	XLB_DROP_MALFORMED,     /* IPv4 or L4 header truncated or inconsistent */
	XLB_DROP_BAD_CHECKSUM,  /* IPv4 header checksum wrong, on VIP traffic */
	XLB_DROP_FRAGMENT,      /* IPv4 fragment to a VIP: no ports to pick a backend by */
	XLB_DROP_IP_OPTIONS,    /* IPv4 options on VIP traffic */
	XLB_DROP_NO_BACKEND,    /* service has no usable backend */
	XLB_DROP_NO_EGRESS,     /* backend's interface missing from xlb_egress */
	XLB_DROP_DENIED,        /* source in the deny list */
	XLB_DROP_NOT_ALLOWED,   /* source outside the service's allow-list */
	XLB_DROP_STRAY_REPLY,   /* from a nat backend's address:port, but no reply to a flow sent to it through here */
	XLB_ARP_REPLY,          /* an ARP request for an owned address, answered from XDP */
	XLB_DROP_STANDBY,       /* VIP traffic, a NAT reply or ARP for an owned address past its HA deadline (struct xlb_ha) */
	XLB_OUTCOME_MAX,
};

#endif
