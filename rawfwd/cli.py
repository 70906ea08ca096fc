"""The `rawfwd` command line. Errors become one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, native
from .config.load import load_config
from .config.values import Config
from .core.wire import format_mac
from .errors import InputError, RawfwdError, first_leaf

EXIT_USAGE = 2  #: bad config, bad input or bad arguments
EXIT_INTERNAL = 70  #: EX_SOFTWARE: a bug in rawfwd


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rawfwd", description="User-space raw-socket IPv4 multicast forwarder."
    )
    p.add_argument(
        "--version",
        action="version",
        version=f"rawfwd {__version__} ({native.status().describe()})",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="validate a config and print the normalised routes")
    check.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")

    run = sub.add_parser("run", help="forward on real interfaces, in the foreground (root)")
    run.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    ui = run.add_mutually_exclusive_group()
    ui.add_argument(
        "--no-ui",
        dest="ui",
        action="store_false",
        default=None,
        help="log lines and a periodic summary instead of the live table",
    )
    ui.add_argument(
        "--ui",
        dest="ui",
        action="store_true",
        help="the live table even when stdout is not a terminal",
    )
    run.add_argument(
        "--stats-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how often --no-ui logs its one-line summary (default 10)",
    )
    run.add_argument(
        "--cpu",
        type=int,
        metavar="N",
        help="run on CPU N only: keep rawfwd off the CPU that handles the "
        "ingress softirq (sharing it starves the process)",
    )
    run.add_argument(
        "--io",
        choices=["rings", "sockets", "ebpf"],
        default="rings",
        help="mmap'd packet rings (default), one system call per frame, or rings plus the "
        "kernel fast path: decided flows forwarded by an eBPF program at tc ingress",
    )
    run.add_argument(
        "--busy-poll",
        type=float,
        default=0.0,
        metavar="US",
        help="after a frame, keep looking for the next one for US microseconds instead of "
        "sleeping: lower latency for a CPU kept busy (default 0: sleep at once)",
    )
    run.add_argument(
        "--keep-privileges",
        action="store_true",
        help="keep every capability for the whole run (default: only CAP_NET_RAW once "
        "started, see README, Privileges)",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    _control_option(run)

    show = sub.add_parser("show", help="what the running rawfwd's table shows")
    show.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["flows", "interfaces", "groups", "neighbors", "pim", "all"],
    )
    show.add_argument("--json", action="store_true")
    _control_option(show)

    demo = sub.add_parser("demo", help="a namespace network with traffic and rawfwd (root)")
    demo.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop after this long (default: run until Ctrl-C)",
    )
    demo_ui = demo.add_mutually_exclusive_group()
    demo_ui.add_argument("--no-ui", dest="ui", action="store_false", default=None)
    demo_ui.add_argument("--ui", dest="ui", action="store_true")

    rep = sub.add_parser("replay", help="run pcaps through a config, write a pcap per egress")
    rep.add_argument("-c", "--config", required=True, type=Path, metavar="CONFIG")
    rep.add_argument(
        "--in",
        dest="inputs",
        action="append",
        required=True,
        metavar="IFACE=PCAP",
        help="traffic arriving on IFACE (repeat for several interfaces)",
    )
    rep.add_argument("--out-dir", required=True, type=Path, metavar="DIR")
    rep.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _control_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--control-socket",
        default=None,
        metavar="ADDR",
        help="control socket: a file path, or @NAME (abstract: any user of the network "
        "namespace can take the name first); default /run/rawfwd/netns-INODE.sock, one per "
        "network namespace, in a directory only root can write",
    )


def describe_config(config: Config) -> str:
    """What `rawfwd check` prints: interfaces, normalised routes (most specific first), dedup."""
    lines = [f"{config.path}: OK", "interfaces:"]
    for spec in config.interfaces.values():
        extras = [f"ttl-threshold {spec.ttl_threshold}"]
        if spec.manet:
            floods = ", ".join(str(g) for g in spec.groups)
            extras.append(f"manet (floods {floods})")
        if spec.mac is not None:
            extras.append(f"mac {format_mac(spec.mac)}")
        if spec.address is not None:
            extras.append(f"address {spec.address}")
        if spec.igmp is not None:
            g = spec.igmp
            role = "querier" if g.querier else "listen only"
            count = g.last_member_count or g.robustness
            extras.append(
                f"igmp v{g.version} {role} (robustness {g.robustness}, query interval "
                f"{g.query_interval:g} s, response {g.query_response_interval:g} s, last "
                f"member {g.last_member_query_interval:g} s x {count})"
            )
        if spec.upstream:
            extras.append("igmp proxy upstream")
        lines.append(f"  {spec.name}: {', '.join(extras)}")
    lines.append(f"routes: {len(config.routes)}")
    ordered = sorted(config.routes, key=lambda r: r.specificity, reverse=True)
    for route in ordered:
        lines.append(f"  {route.describe()}    # {route.origin}")
    for rpf in config.rpf:
        lines.append(f"rpf: {rpf.prefix} via {rpf.iif}    # {rpf.origin}")
    d = config.dedup
    lines.append(f"dedup: {d.mode.value}, window {d.window:g} s, max {d.max_entries} entries")
    f = config.flows
    lines.append(f"flows: max {f.max_flows}, idle timeout {f.idle_timeout:g} s")
    lines.extend(f"warning: {w}" for w in config.warnings)
    return "\n".join(lines)


def _parse_inputs(items: Sequence[str]) -> list[tuple[str, Path]]:
    inputs = []
    for item in items:
        iface, sep, path = item.partition("=")
        if not sep or not iface or not path:
            raise InputError(f"--in {item!r}: expected IFACE=PCAP, e.g. --in eth0=eth0.pcap")
        inputs.append((iface, Path(path)))
    return inputs


def _run(args: argparse.Namespace) -> int:
    if args.command == "check":
        print(describe_config(load_config(args.config)))
        return 0
    if args.command == "run":
        from .runner import run

        if not args.stats_interval > 0:
            raise InputError("--stats-interval must be more than 0 seconds")
        if not 0 <= args.busy_poll <= 1_000_000:
            raise InputError("--busy-poll must be from 0 to 1000000 microseconds")
        return run(
            args.config,
            ui=args.ui,
            control_address=args.control_socket,
            stats_interval=args.stats_interval,
            log_level=args.log_level,
            cpu=args.cpu,
            rings=args.io != "sockets",
            fast_path=args.io == "ebpf",
            busy_poll=args.busy_poll,
            keep_privileges=args.keep_privileges,
        )
    if args.command == "show":
        from .runner import show

        return show(args.what, as_json=args.json, control_address=args.control_socket)
    if args.command == "demo":
        from .lab.demo import demo

        return demo(duration=args.duration, ui=args.ui)
    if args.command == "replay":
        from .replay import format_summary, replay

        inputs = _parse_inputs(args.inputs)
        config = load_config(args.config)
        for warning in config.warnings:
            print(f"rawfwd: warning: {warning}", file=sys.stderr)
        result = replay(config, inputs, args.out_dir)
        if args.json:
            print(json.dumps(result.to_json(), indent=2))
        else:
            print(format_summary(result))
        return 0
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rawfwd` console script."""
    args = _parser().parse_args(argv)
    try:
        try:
            return _run(args)
        except BaseExceptionGroup as group:  # from trio's nurseries: report what is inside
            raise first_leaf(group) from None
    except RawfwdError as exc:
        print(f"rawfwd: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging
        if os.environ.get("RAWFWD_DEBUG"):
            raise
        print(
            f"rawfwd: internal error: {type(exc).__name__}: {exc} "
            "(set RAWFWD_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
