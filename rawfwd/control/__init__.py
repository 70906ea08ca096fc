"""The pure control plane: IGMP messages and, later, the querier and membership state.

Like `rawfwd.core`, nothing here opens a socket or reads a clock: time is passed in.
"""
