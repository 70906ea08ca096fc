"""Configuration: TOML (rawfwd's own) or smcroute.conf -> validated, frozen values.

`values` holds what the engine reads; `checks` the value checks both formats share; `toml`
and `smcroute` the two formats; `load` tells them apart. This module imports none of them,
so that the pure core can import `rawfwd.config.values` without loading the parsers.
"""
