/* rawfwd's kernel fast path: forwards, at tc ingress, the flows the engine has decided.
 *
 * The engine (Python, user space) stays the brain: it writes each decided flow into
 * `flows` (key: arrival ifindex, source, group; value: the egress interfaces with their
 * MAC and TTL threshold, ascending, and the duplicate-detection mode). For a frame of such
 * a flow this program does what the engine would: TTL <= 1 or below every threshold: no
 * copy (RFC 1812 5.3.1, ipmr); a duplicate within the window (RFC 6621 section 6): dropped
 * before any local socket sees it; else TTL - 1 with the header checksum patched
 * (RFC 1624), the group MAC (RFC 1112 6.4) and each egress's own MAC as source, one clone
 * per egress the TTL allows. The frame then goes on, unchanged, to the local stack (a
 * host's own listeners still hear it). Frames of flows not in `flows`, IGMP, IPv4 with
 * options, fragments and anything unparsed go on untouched: the engine gets them through
 * its packet sockets.
 *
 * Why tc and not XDP: an XDP redirect consumes the frame, so a listener on the router
 * itself would never get it; a tc program clones to the egress and lets the original
 * continue. Counters are per CPU, per flow, merged by the engine into its snapshot.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_EGRESS 8
#define DEDUP_OFF 0
#define DEDUP_HASH 1
#define DEDUP_ID 2
#define DEDUP_MODE 0xff
/* in flow_value.dedup: the engine forwards this flow (a MANET relay, decided per packet by
 * the previous hop); the program only drops its duplicates before the local stack */
#define USER_FORWARDS 0x100
#define HASH_WORDS 192 /* 8-byte words hashed at most: 1536 bytes of packet */
#define CHUNK_WORDS 16 /* words read by one bpf_skb_load_bytes */
/* skb->mark of the copies this program sends: rawfwd's packet sockets see every frame sent
 * on their interface (PACKET_OUTGOING), and must not take these for an application's */
#define COPY_MARK 0x72667770 /* "rfwp" */

struct flow_key {
	__u32 ifindex; /* arrival interface */
	__u32 saddr;   /* as on the wire */
	__u32 daddr;
};

struct egress {
	__u32 ifindex;
	__u8 mac[6];
	__u8 threshold; /* a copy leaves where TTL > threshold */
	__u8 pad;
};

struct flow_value {
	__u32 count; /* egress entries in use, ascending threshold */
	__u32 dedup; /* DEDUP_*, | USER_FORWARDS */
	struct egress egress[MAX_EGRESS];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes; /* IP bytes */
	__u64 forwarded;
	__u64 copies;
	__u64 ttl;       /* TTL <= 1: no copy */
	__u64 threshold; /* TTL within every threshold: no copy */
	__u64 duplicate;
};

struct settings {
	__u64 window_ns; /* duplicate window */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
	__uint(max_entries, 100000);
	/* an update replaces the element whole (RCU): a frame never reads half an egress list */
	__uint(map_flags, BPF_F_NO_PREALLOC);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
	__uint(max_entries, 100000);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64);   /* packet identity */
	__type(value, __u64); /* first seen, ns */
	__uint(max_entries, 65536);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct settings);
	__uint(max_entries, 1);
} config SEC(".maps");

/* The frame this CPU last let up to the engine. Packet sockets bound with ETH_P_ALL see a
 * frame before tc ingress does, in the same softirq on the same CPU: if the engine hands a
 * flow to the kernel between the two, the frame is in the engine's ring already and the
 * program must not forward it a second time. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} handed SEC(".maps");

static __always_inline __u64 mix(__u64 h, __u64 v)
{
	h ^= v;
	h *= 0x100000001b3ULL; /* FNV-1a's prime, on 64-bit words */
	return h ^ (h >> 29);
}

struct hashing {
	struct __sk_buff *skb;
	__u64 h;
	__u32 len;   /* payload bytes after the IPv4 header */
	__u32 udp;   /* the payload is UDP: its checksum (bytes 6-7) is left out */
};

/* one chunk of CHUNK_WORDS 8-byte words of payload per call of bpf_loop (the verifier
 * checks this once, not per chunk), read with one helper call; a short last chunk is
 * zero-padded, and only the words it touches are hashed, so the hash is that of the
 * payload's words in order, a short last word padded with zeros */
static long hash_chunk(__u32 i, void *data)
{
	struct hashing *c = data;
	__u64 words[CHUNK_WORDS] = {};
	__u64 at = (__u64)i * CHUNK_WORDS * 8, n; /* 64-bit: the size check is on the register
						     passed, not a zero-extended copy */

	if (at >= c->len)
		return 1;
	n = c->len - at;
	if (n > sizeof(words))
		n = sizeof(words);
	if (n == 0) /* cannot be (at < len): said for the verifier, which wants a size >= 1 */
		return 1;
	if (bpf_skb_load_bytes(c->skb, ETH_HLEN + sizeof(struct iphdr) + at, words, n))
		return 1;
	if (at == 0 && c->udp)
		words[0] &= ~(0xffffULL << 48); /* bytes 6-7 of a little-endian load */
	for (int k = 0; k < CHUNK_WORDS; k++) {
		if (k * 8 >= n)
			break;
		c->h = mix(c->h, words[k]);
	}
	return 0;
}

/* H-DPD (RFC 6621 6.2.2): the IPv4 header without TTL and header checksum, and the payload
 * (up to HASH_WORDS words) without the UDP checksum: the original may carry it unfinished
 * (offload) while relayed copies carry it finished, and both are one packet. */
static __always_inline __u64 packet_hash(struct __sk_buff *skb, struct iphdr *ip)
{
	struct hashing c = {.skb = skb, .h = 0xcbf29ce484222325ULL};
	__u32 len = bpf_ntohs(ip->tot_len);

	c.h = mix(c.h, ((__u64)ip->tos << 48) | ((__u64)ip->tot_len << 32) | ((__u64)ip->id << 16) |
			       ip->frag_off);
	c.h = mix(c.h, ((__u64)ip->protocol << 32) | ip->saddr);
	c.h = mix(c.h, ip->daddr);
	c.len = len > sizeof(*ip) ? len - sizeof(*ip) : 0;
	c.udp = ip->protocol == IPPROTO_UDP;
	bpf_loop(HASH_WORDS / CHUNK_WORDS, hash_chunk, &c, 0);
	return c.h;
}

/* I-DPD (RFC 6621 6.2.1): source, destination, protocol, identification, fragment offset */
static __always_inline __u64 packet_id(struct iphdr *ip)
{
	__u64 h = 0xcbf29ce484222325ULL;

	h = mix(h, ((__u64)ip->saddr << 32) | ip->daddr);
	h = mix(h, ((__u64)ip->protocol << 32) | ((__u64)ip->id << 16) |
			   (bpf_ntohs(ip->frag_off) & 0x1fff));
	return h;
}

static __always_inline int duplicate(__u64 identity)
{
	__u32 zero = 0;
	struct settings *s = bpf_map_lookup_elem(&config, &zero);
	__u64 now = bpf_ktime_get_ns();
	__u64 *first = bpf_map_lookup_elem(&seen, &identity);

	/* Copies of one packet can arrive on two CPUs at once (two relays' transmissions
	 * run this program in their senders' softirqs): whoever records the packet first
	 * lets it through, atomically, and the other is the duplicate. */
	if (first) {
		__u64 seen_at = *first;

		if (s && now - seen_at < s->window_ns)
			return 1;
		/* seen long ago: a new packet; rewritten in place (no LRU churn), unless
		 * another CPU rewrote it just now */
		return __sync_val_compare_and_swap(first, seen_at, now) != seen_at;
	}
	return bpf_map_update_elem(&seen, &identity, &now, BPF_NOEXIST) != 0;
}

/* The frames the fast path takes: what the engine's fast parse takes (Ethernet II, IPv4
 * without options, a valid header checksum, a total length the frame holds, to
 * 224.0.0.0/4), and not a fragment, not IGMP, not VLAN-tagged (the tag is out of the
 * frame by now). The tc program forwards only these and the socket filter hides only these
 * from the engine: anything else reaches the engine as before. */
static __always_inline int eligible(const __u8 *h, __u32 len, __u32 vlan)
{
	__u32 sum = 0, total;

	if (vlan || h[12] != 0x08 || h[13] != 0x00 || h[14] != 0x45)
		return 0;
	if ((h[30] & 0xf0) != 0xe0 || (h[20] & 0x3f) || h[21] || h[23] == IPPROTO_IGMP)
		return 0; /* not multicast, a fragment (MF or an offset), IGMP */
	total = ((__u32)h[16] << 8) | h[17];
	if (total < 20 || ETH_HLEN + total > len)
		return 0;
	for (int i = ETH_HLEN; i < ETH_HLEN + 20; i += 2)
		sum += ((__u32)h[i] << 8) | h[i + 1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff; /* RFC 1071: a valid header sums to all ones */
}

/* one frame among those close in time: total length, identification, header checksum and
 * the low half of the source (never 0, the empty slot) */
static __always_inline __u64 frame_key(const __u8 *h)
{
	return ((__u64)h[16] << 56) | ((__u64)h[17] << 48) | ((__u64)h[18] << 40) |
	       ((__u64)h[19] << 32) | ((__u64)h[24] << 24) | ((__u64)h[25] << 16) |
	       ((__u64)h[28] << 8) | h[29] | 1;
}

#define COUNT(field)                                                                            \
	do {                                                                                    \
		if (st)                                                                         \
			st->field++;                                                            \
	} while (0)

SEC("tc")
int forward(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct flow_key key = {};
	struct flow_value *flow;
	struct flow_stats *st, fresh = {};
	__u8 old_head[16], new_head[16]; /* both MACs, then TTL, protocol, checksum */
	__u8 ttl, allowed = 0;
	__u32 old_mark, sum;
	__u32 ttl_off = sizeof(*eth) + 8;
	__u8 head[ETH_HLEN + 20];

	if (bpf_skb_load_bytes(skb, 0, head, sizeof(head)) ||
	    !eligible(head, skb->len, skb->vlan_present))
		return TC_ACT_OK;
	if ((void *)(ip + 1) > end)
		return TC_ACT_OK; /* not in the linear part: the engine's */
	key.ifindex = skb->ingress_ifindex;
	key.saddr = ip->saddr;
	key.daddr = ip->daddr;
	flow = bpf_map_lookup_elem(&flows, &key);
	if (!flow)
		return TC_ACT_OK;
	{
		__u32 zero = 0;
		__u64 *last = bpf_map_lookup_elem(&handed, &zero);

		if (last && *last == frame_key(head)) { /* up to the engine before the handover */
			*last = 0;
			if (!(flow->dedup & USER_FORWARDS))
				return TC_ACT_OK;
		}
	}
	if (flow->dedup & USER_FORWARDS) { /* the engine relays it (and counts it) */
		__u32 mode = flow->dedup & DEDUP_MODE;

		if (mode == DEDUP_HASH && duplicate(packet_hash(skb, ip)))
			return TC_ACT_SHOT;
		if (mode == DEDUP_ID && duplicate(packet_id(ip)))
			return TC_ACT_SHOT;
		return TC_ACT_OK;
	}
	st = bpf_map_lookup_elem(&stats, &key);
	if (!st) { /* forwarded even if it cannot be counted: the engine does not see it */
		bpf_map_update_elem(&stats, &key, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&stats, &key);
	}
	if (st) {
		st->packets++;
		st->bytes += bpf_ntohs(ip->tot_len);
	}
	ttl = ip->ttl;
	if (ttl <= 1) {
		COUNT(ttl);
		return TC_ACT_OK;
	}
	for (int i = 0; i < MAX_EGRESS; i++) {
		if (i >= flow->count || flow->egress[i].threshold >= ttl)
			break;
		allowed++;
	}
	if (!allowed) {
		COUNT(threshold);
		return TC_ACT_OK;
	}
	if (flow->dedup == DEDUP_HASH && duplicate(packet_hash(skb, ip))) {
		COUNT(duplicate);
		return TC_ACT_SHOT;
	}
	if (flow->dedup == DEDUP_ID && duplicate(packet_id(ip))) {
		COUNT(duplicate);
		return TC_ACT_SHOT;
	}
	/* the copies: TTL - 1 with the checksum patched (RFC 1624 eqn. 3: the TTL/protocol
	 * word falls by 0x100, so HC' = ~(~HC + 0xfeff)), the group MAC, each egress's MAC as
	 * source; the fewest helper calls: one store for TTL to checksum, one for both MACs,
	 * then one per further egress for its source MAC */
	__builtin_memcpy(old_head, eth, 12);
	__builtin_memcpy(old_head + 12, &ip->ttl, 4);
	new_head[0] = 0x01;
	new_head[1] = 0x00;
	new_head[2] = 0x5e;
	new_head[3] = ((__u8 *)&ip->daddr)[1] & 0x7f;
	new_head[4] = ((__u8 *)&ip->daddr)[2];
	new_head[5] = ((__u8 *)&ip->daddr)[3];
	__builtin_memcpy(new_head + 6, flow->egress[0].mac, 6);
	sum = (__u16)~bpf_ntohs(ip->check) + 0xfeff;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	new_head[12] = ttl - 1;
	new_head[13] = ip->protocol;
	new_head[14] = (~sum >> 8) & 0xff;
	new_head[15] = ~sum & 0xff;
	bpf_skb_store_bytes(skb, ttl_off, new_head + 12, 4, 0);
	bpf_skb_store_bytes(skb, 0, new_head, 12, 0);
	old_mark = skb->mark;
	skb->mark = COPY_MARK;
	for (int i = 0; i < MAX_EGRESS; i++) {
		if (i >= allowed)
			break;
		if (i > 0)
			bpf_skb_store_bytes(skb, 6, flow->egress[i].mac, 6, 0);
		if (bpf_clone_redirect(skb, flow->egress[i].ifindex, 0) == 0)
			COUNT(copies);
	}
	COUNT(forwarded);
	skb->mark = old_mark;
	/* the original goes on to the local stack as it came */
	bpf_skb_store_bytes(skb, ttl_off, old_head + 12, 4, 0);
	bpf_skb_store_bytes(skb, 0, old_head, 12, 0);
	return TC_ACT_OK;
}

/* The filter of rawfwd's own packet sockets with the fast path on (it replaces their
 * classic filter): IPv4 to 224.0.0.0/4 and IPv6 to ff00::/8 without a VLAN tag, as before
 * (the fast path forwards IPv4 only: IPv6 always goes up), but not the frames of flows
 * the fast path forwards (the engine must not forward them a second time), nor the
 * copies it sent (they come back to the socket of their interface as outgoing). Other
 * frames this host sent (PACKET_OUTGOING) pass: tc ingress never sees them. */
SEC("socket")
int user_space(struct __sk_buff *skb)
{
	struct flow_key key = {};
	struct flow_value *flow;
	__u8 head[34];

	if (skb->vlan_present || bpf_skb_load_bytes(skb, 0, head, sizeof(head)))
		return 0;
	if (head[12] == 0x86 && head[13] == 0xdd) { /* IPv6 multicast: always the engine's */
		__u8 first;

		if (bpf_skb_load_bytes(skb, 38, &first, 1) || first != 0xff)
			return 0;
		return skb->len;
	}
	if (head[12] != 0x08 || head[13] != 0x00 || (head[30] & 0xf0) != 0xe0)
		return 0; /* what the classic filter it replaces let through: IPv4 multicast */
	if (skb->pkt_type == PACKET_OUTGOING)
		return skb->mark == COPY_MARK ? 0 : skb->len;
	if (!eligible(head, skb->len, 0))
		return skb->len; /* the fast path leaves it alone: the engine's */
	key.ifindex = skb->ifindex;
	__builtin_memcpy(&key.saddr, head + 26, 4);
	__builtin_memcpy(&key.daddr, head + 30, 4);
	flow = bpf_map_lookup_elem(&flows, &key);
	if (flow && !(flow->dedup & USER_FORWARDS))
		return 0;
	{
		__u32 zero = 0;
		__u64 *last = bpf_map_lookup_elem(&handed, &zero);

		if (last)
			*last = frame_key(head);
	}
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
