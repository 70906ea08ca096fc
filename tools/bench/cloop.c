/* The native user-space reference of `make bench`: receive frames on one AF_PACKET socket,
 * send each out on two others, in batches (recvmmsg / sendmmsg), with no forwarding logic:
 * no parsing beyond "is it IPv4 multicast", no table, no TTL, no duplicate check.
 *
 * What any user-space forwarder on plain packet sockets could reach on this machine; the
 * bench builds it with the system's C compiler and runs it beside rawfwd.
 *
 * usage: cloop IN OUT1 OUT2 [CPU]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SNAP 2048

static int packet_socket(const char *ifname, int protocol)
{
	struct sockaddr_ll addr;
	int fd = socket(AF_PACKET, SOCK_RAW, protocol);

	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	memset(&addr, 0, sizeof(addr));
	addr.sll_family = AF_PACKET;
	addr.sll_protocol = (unsigned short)protocol;
	addr.sll_ifindex = (int)if_nametoindex(ifname);
	if (addr.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror(ifname);
		exit(1);
	}
	return fd;
}

static void send_all(int fd, struct mmsghdr *msgs, unsigned int count)
{
	unsigned int done = 0;

	while (done < count) {
		int n = sendmmsg(fd, msgs + done, count - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* ENOBUFS and the like: the rest of the batch is lost, as a forwarder's */
		}
		done += (unsigned int)n;
	}
}

int main(int argc, char **argv)
{
	static unsigned char frames[BATCH][SNAP];
	struct mmsghdr in[BATCH], out[BATCH];
	struct iovec iov_in[BATCH], iov_out[BATCH];
	struct pollfd pfd;
	int rx, tx1, tx2;

	if (argc < 4) {
		fprintf(stderr, "usage: %s IN OUT1 OUT2 [CPU]\n", argv[0]);
		return 2;
	}
	if (argc > 4) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(atoi(argv[4]), &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	rx = packet_socket(argv[1], htons(ETH_P_ALL));
	tx1 = packet_socket(argv[2], 0);
	tx2 = packet_socket(argv[3], 0);
	memset(in, 0, sizeof(in));
	for (int i = 0; i < BATCH; i++) {
		iov_in[i].iov_base = frames[i];
		iov_in[i].iov_len = SNAP;
		in[i].msg_hdr.msg_iov = &iov_in[i];
		in[i].msg_hdr.msg_iovlen = 1;
	}
	memset(out, 0, sizeof(out));
	pfd.fd = rx;
	pfd.events = POLLIN;
	for (;;) {
		unsigned int kept = 0;
		int got;

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return 1;
		got = recvmmsg(rx, in, BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			continue;
		for (int i = 0; i < got; i++) {
			unsigned int len = in[i].msg_len;

			/* IPv4 to 224.0.0.0/4 or IPv6 to ff00::/8, the only test: the floor's */
			if ((len > 30 && frames[i][12] == 0x08 && frames[i][13] == 0x00 &&
			     (frames[i][30] & 0xF0) == 0xE0) ||
			    (len > 38 && frames[i][12] == 0x86 && frames[i][13] == 0xDD &&
			     frames[i][38] == 0xFF)) {
				iov_out[kept].iov_base = frames[i];
				iov_out[kept].iov_len = len;
				out[kept].msg_hdr.msg_iov = &iov_out[kept];
				out[kept].msg_hdr.msg_iovlen = 1;
				kept++;
			}
		}
		send_all(tx1, out, kept);
		send_all(tx2, out, kept);
	}
}
