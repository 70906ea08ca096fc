/* The eBPF reference of `make bench`: an XDP program that sends every IPv4 and IPv6
 * multicast frame to every interface of a devmap but the one it came in on
 * (BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS), unchanged: no TTL, no duplicate check, no counters. What any
 * XDP forwarder could reach on this machine; rawfwd's kernel fast path is measured
 * against it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 32);
} egress SEC(".maps");

SEC("xdp")
int broadcast(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;
	unsigned char *end = (unsigned char *)(long)ctx->data_end;

	if (data + 34 > end)
		return XDP_PASS;
	/* Ethernet II, IPv4 to 224.0.0.0/4 */
	if (data[12] == 0x08 && data[13] == 0x00 && (data[30] & 0xF0) == 0xE0)
		return bpf_redirect_map(&egress, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
	/* Ethernet II, IPv6 to ff00::/8 (the destination's first octet is at 38) */
	if (data + 54 > end || data[12] != 0x86 || data[13] != 0xDD || data[38] != 0xFF)
		return XDP_PASS;
	return bpf_redirect_map(&egress, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
