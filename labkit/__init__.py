"""Small helpers the lab notebooks share (processes, ports, polling), so labs never copy-paste them.

This is lab code, not the grader: students may read and use it. Every helper
binds and talks to 127.0.0.1 only.
"""

from labkit.net import free_port, wait_for_http, wait_for_port
from labkit.process import ManagedProcess, ProcessDied, start_process

__all__ = ["ManagedProcess", "ProcessDied", "free_port", "start_process", "wait_for_http", "wait_for_port"]
