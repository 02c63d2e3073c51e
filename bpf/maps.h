/* xlb's maps: definitions only. Layouts are in xlb_layout.h; the control plane fills every map but the counters. */
#ifndef XLB_MAPS_H
#define XLB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_layout.h"

/* (VIP, protocol, port) -> service. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, struct xlb_service_key);
	__type(value, struct xlb_service);
} xlb_services SEC(".maps");

/* Every VIP address, so traffic that cannot be matched to a port (fragments, options) is still known as ours. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, union xlb_addr);
	__type(value, __u32);
} xlb_vips SEC(".maps");

/* Backend tables, two per service; see struct xlb_service. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES * 2 * XLB_TABLE_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} xlb_tables SEC(".maps");

/* Backend index -> backend. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend);
} xlb_backends SEC(".maps");

/* Service id -> round-robin position, one per CPU: no cache line is written by every CPU. Each CPU walks the ring
 * from its start, so every CPU's picks are spread by weight, and so are their sum's. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u32);
} xlb_rr_cursor SEC(".maps");

/* Client 5-tuple -> backend of established flows (those that sent a packet after their first): keeps them on their
 * backend while the pool changes. One table for all CPUs, so a flow stays put whichever queue its packets arrive on.
 * One LRU list too: each CPU takes free entries from it in batches (of 128), so CPUs seldom meet on its lock, and every
 * CPU can fill the whole table. Per-CPU lists (BPF_F_NO_COMMON_LRU) were measured: each insert moves an entry between
 * lists at once, a cold cache line more, and a flow's insert cost 20-30 % more (README "Performance"). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_MAX_FLOWS);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_flow);
} xlb_flows SEC(".maps");

/* Flows seen open but not yet established: see xlb_layout.h. A set-associative array rather than a hash: remembering
 * a new flow is a few stores to one cache line, no lock and no eviction walk, so a flood of SYNs or one-packet flows from spoofed
 * sources costs little and churns this table only, never the established flows. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_NEW_FLOW_SETS);
	__type(key, __u32);
	__type(value, struct xlb_new_flow_set);
} xlb_new_flows SEC(".maps");

/* See xlb_layout.h: VIP and nat backend address bits. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XLB_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} xlb_filter SEC(".maps");

/* The node's own addresses: a backend's answer to the node itself (a health check) is not a reply to translate. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, union xlb_addr);
	__type(value, __u32);
} xlb_local SEC(".maps");

/* NAT backend (address, port, protocol) -> VIP side, to translate replies back. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, struct xlb_reverse_key);
	__type(value, struct xlb_reverse);
} xlb_reverse SEC(".maps");

/* ifindex -> interface, for redirects out of an interface other than the receiving one. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XLB_MAX_EGRESS);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} xlb_egress SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XLB_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* the kernel requires it of LPM tries */
	__type(key, struct xlb_deny_key);
	__type(value, __u32);
} xlb_deny SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XLB_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_allow_key);
	__type(value, __u32);
} xlb_allow SEC(".maps");

/* Owned address -> the interface ARP for it is answered on (see struct xlb_owned). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_OWNED);
	__type(key, union xlb_addr);
	__type(value, struct xlb_owned);
} xlb_owned SEC(".maps");

/* ifindex -> the interface's MAC, for ARP replies. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_EGRESS);
	__type(key, __u32);
	__type(value, struct xlb_iface);
} xlb_ifaces SEC(".maps");

/* The HA deadlines: see struct xlb_ha. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_ha);
} xlb_ha SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XLB_EVENTS_BYTES);
} xlb_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_event_budget);
} xlb_event_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_settings);
} xlb_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_counters);
} xlb_service_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_counters);
} xlb_backend_stats SEC(".maps");

/* enum xlb_outcome -> packets and bytes; flows_new stays 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_OUTCOME_MAX);
	__type(key, __u32);
	__type(value, struct xlb_counters);
} xlb_outcomes SEC(".maps");

#endif
