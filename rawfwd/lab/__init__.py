"""What `rawfwd demo` ships: network-namespace labs and the traffic they send."""
