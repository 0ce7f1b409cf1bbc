"""The simulated PBX: Asterisk 20's AMI and FastAGI wire protocols over loopback sockets.

See docs/simulated-pbx.md. The public entry points are ``SimPbx`` and ``SimConfig``.
"""

from pbx.sim.config import AgentConfig, CalleeConfig, CalleeMix, SimConfig, load_sim_config
from pbx.sim.pbx import CallRecord, ChannelSnapshot, SimPbx

__all__ = [
    "AgentConfig",
    "CallRecord",
    "CalleeConfig",
    "CalleeMix",
    "ChannelSnapshot",
    "SimConfig",
    "SimPbx",
    "load_sim_config",
]
