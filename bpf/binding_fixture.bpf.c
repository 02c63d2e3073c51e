/* Test fixture for the libbpf binding (lb/bpf/): one map of each kind the binding must handle, an XDP program that counts frames
 * per CPU, stamps the first byte of the frame and returns the verdict configured in fixture_config, and a program the
 * verifier rejects, not loaded unless a test asks for it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* fixture_config[0]: the XDP action to return (XDP_PASS when never written). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} fixture_config SEC(".maps");

/* A hash with 8-byte keys, which no other map has, so a key-size mix-up shows in the tests. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8[12]);
} fixture_hash SEC(".maps");

/* Frames seen, per CPU. A 12-byte value, so per-CPU reads and writes must round each CPU's slot up to 16 bytes. */
struct fixture_counter {
	__u32 packets;
	__u32 bytes;
	__u32 last_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fixture_counter);
} fixture_counters SEC(".maps");

/* A map whose values the kernel checks: each must be the ifindex of an existing interface. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} fixture_devmap SEC(".maps");

SEC("xdp")
int fixture_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u32 action = XDP_PASS;
	__u32 *configured;
	struct fixture_counter *counter;

	configured = bpf_map_lookup_elem(&fixture_config, &zero);
	if (configured && *configured)
		action = *configured;

	/* Proves the output bytes come back: the first byte is replaced by 0xee. */
	if (data + 1 <= data_end)
		*(__u8 *)data = 0xee;

	counter = bpf_map_lookup_elem(&fixture_counters, &zero);
	if (counter) {
		counter->packets++;
		counter->bytes += (__u32)(data_end - data);
		counter->last_len = (__u32)(data_end - data);
	}
	return action;
}

/* "?xdp": libbpf skips it unless autoload is switched on; it reads the frame without the bounds check the verifier
 * demands, so loading it must fail with the verifier's log in the error. */
SEC("?xdp")
int fixture_rejected(struct xdp_md *ctx)
{
	return *(__u8 *)(long)ctx->data;
}

char LICENSE[] SEC("license") = "GPL";
