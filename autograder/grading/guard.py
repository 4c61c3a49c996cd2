"""Keep a student's kernel from changing how the graded checks run.

Answer cells run arbitrary code in the same interpreter as the checks, so a
student can try to make the checks vacuous: an input transformer that empties
cells, a custom exception handler that swallows AssertionError, an event or
trace hook, a patched builtin or numpy function, a patched IPython method.

Before the first cell (student code has not run yet) a guard module snapshots
that state. Before each graded check the executor asks the guard, through a
silent execute_request's `user_expressions` (evaluated with eval(): no input
or AST transformers apply), to put it all back and to echo a fresh nonce; the
check then runs with a line appended that records a second random sentinel,
and the executor asks for it afterwards. A missing nonce or sentinel (and no
error of the check's own) means the check did not run as written: it scores 0
with a message that says so.

This raises the bar; it is not a proof. Code that runs in the kernel can, with
enough knowledge of this module, forge the answers (docs/grading-security.md).
"""

from __future__ import annotations

import ast
import re
import secrets

GUARD_MODULE = "_labs_guard"

# Runs inside the kernel. Keep it dependency-free (IPython and the stdlib only).
KERNEL_SOURCE = r"""
import builtins as _b, sys as _sys, types as _types, threading as _th
from IPython import get_ipython as _gi

_TRAITS = ("ast_transformers", "input_transformers_post", "autocall", "pdb")  # not exit_now: an exit must end
_ATTRS = ("CustomTB", "custom_exceptions", "events", "input_transformer_manager", "InteractiveTB",
          "SyntaxTB", "display_pub", "displayhook", "display_trap", "builtin_trap", "compile")
_ITM_LISTS = ("cleanup_transforms", "line_transforms", "token_transformers")


def _ours(obj):
    return [c for c in type(obj).__mro__ if c.__module__.split(".")[0] in ("IPython", "ipykernel")]


def _cap_output(budget):
    # Drop stdout/stderr past the budget in the kernel, so a 100 MB print never becomes a 100 MB message.
    # IPython tees each stream through an instance-level `write`, so wrap that as well as the class's.
    from ipykernel.iostream import OutStream
    left = [budget]

    def capping(write):
        def capped(*args):
            s = args[-1]
            if not isinstance(s, str):
                return write(*args)
            if left[0] <= 0:
                return len(s)
            if len(s) > left[0]:
                s = s[: left[0]]
            left[0] -= len(s)
            return write(*args[:-1], s)

        return capped

    teed = [stream for stream in (_sys.stdout, _sys.stderr) if "write" in vars(stream)]
    for stream in teed:  # the tee calls the class's write: cap once, here
        stream.write = capping(vars(stream)["write"])
    if not teed:
        OutStream.write = capping(OutStream.write)


def _install(watch, nonce, budget):
    _cap_output(budget)
    ip = _gi()
    kernel = getattr(ip, "kernel", None)
    snap_b = dict(_b.__dict__)
    classes = {c: dict(vars(c)) for obj in (ip, kernel, ip.events) if obj is not None for c in _ours(obj)}
    inst = {id(o): (o, dict(vars(o))) for o in (ip, kernel) if o is not None}
    traits = {k: getattr(ip, k) for k in _TRAITS if ip.has_trait(k)}  # getattr: defaults are lazy
    lists = {k: list(v) for k, v in traits.items() if isinstance(v, list)}
    attrs = {k: vars(ip)[k] for k in _ATTRS if k in vars(ip)}
    itm = ip.input_transformer_manager
    itm_lists = {k: (getattr(itm, k), list(getattr(itm, k))) for k in _ITM_LISTS if hasattr(itm, k)}
    events = ip.events
    callbacks = {k: (v, list(v)) for k, v in events.callbacks.items()}
    handlers = dict(kernel.shell_handlers) if kernel is not None and hasattr(kernel, "shell_handlers") else None
    hooks = {k: getattr(_sys, k) for k in ("excepthook", "displayhook", "stdout", "stderr", "stdin",
                                          "breakpointhook", "unraisablehook")}
    modules = {}
    for name in ("builtins", "sys", "os", "math", "IPython", *watch):
        try:
            __import__(name)
            mod = _sys.modules[name]
        except Exception:
            continue
        modules[name] = (mod, dict(mod.__dict__))
    state = {"mark": None, "shadowed": {}}
    guard = _types.ModuleType("__GUARD__")

    def restore(token):
        _sys.settrace(None)
        _sys.setprofile(None)
        _th.settrace(None)
        _th.setprofile(None)
        for k, v in snap_b.items():
            if _b.__dict__.get(k) is not v:
                _b.__dict__[k] = v
        for cls, saved in classes.items():
            for k in [k for k in vars(cls) if k not in saved]:
                try:
                    delattr(cls, k)
                except Exception:
                    pass
            for k, v in saved.items():
                if vars(cls).get(k) is not v:
                    try:
                        setattr(cls, k, v)
                    except Exception:
                        pass
        for obj, saved in inst.values():
            for k in [k for k in vars(obj) if k not in saved and callable(getattr(type(obj), k, None))]:
                delattr(obj, k)
        for k, v in attrs.items():
            vars(ip)[k] = v
        for k, v in traits.items():
            ip._trait_values[k] = v
            if k in lists:
                v[:] = lists[k]
        for k, (obj, content) in itm_lists.items():
            setattr(itm, k, obj)
            obj[:] = content
        for k, (obj, content) in callbacks.items():
            events.callbacks[k] = obj
            obj[:] = content
        if handlers is not None:
            kernel.shell_handlers.clear()
            kernel.shell_handlers.update(handlers)
        for k, v in hooks.items():
            setattr(_sys, k, v)
        for name, (mod, saved) in modules.items():
            _sys.modules[name] = mod
            for k, v in saved.items():
                if mod.__dict__.get(k) is not v:
                    mod.__dict__[k] = v
        _sys.modules["__GUARD__"] = guard
        ns = ip.user_ns
        ns["__builtins__"] = _b
        ns["get_ipython"] = ip.get_ipython
        state["shadowed"] = {
            k: ns.pop(k) for k in list(ns) if k in snap_b and not k.startswith("_") and ns[k] is not snap_b[k]
        }
        state["mark"] = None
        return token

    def mark(token):
        state["mark"] = token

    def after():
        for k, v in state.pop("shadowed", {}).items():
            ip.user_ns.setdefault(k, v)
        state["shadowed"] = {}
        found, state["mark"] = state["mark"], None
        return found

    guard.restore, guard.mark, guard.after = restore, mark, after
    _sys.modules["__GUARD__"] = guard
    return nonce
""".replace("__GUARD__", GUARD_MODULE)

_IMPORT = re.compile(
    r"^\s*(?:from\s+([A-Za-z_][\w.]*)\s+import|import\s+([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*))", re.M
)


def imported_modules(sources: list[str]) -> list[str]:
    """Top-level modules the lab's own (locked and check) cells import: the ones checks rely on."""
    found: set[str] = set()
    for source in sources:
        for match in _IMPORT.finditer(source):
            names = match.group(1) or match.group(2) or ""
            for name in names.split(","):
                found.add(name.strip().split(" ")[0])
    return sorted(n for n in found if n)


def nonce() -> str:
    return secrets.token_hex(12)


def setup_expression(watch: list[str], token: str, output_budget: int) -> str:
    """Install the guard; the kernel keeps a little more output than the grader, so the grader still sees
    (and reports) the overflow."""
    call = f"g['_install']({watch!r}, {token!r}, {output_budget + 4096})"
    return f"(lambda g: (exec({KERNEL_SOURCE!r}, g), {call})[1])({{}})"


def restore_expression(token: str) -> str:
    return f"__import__('sys').modules[{GUARD_MODULE!r}].restore({token!r})"


def after_expression() -> str:
    return f"__import__('sys').modules[{GUARD_MODULE!r}].after()"


def with_sentinel(source: str, token: str) -> str:
    """The check's source with a mark after its statements, before a final expression (its partial
    credit value, which nbgrader reads from the cell's result, must stay the cell's result)."""
    mark = f"__import__('sys').modules[{GUARD_MODULE!r}].mark({token!r})"
    try:
        body = ast.parse(source).body
    except SyntaxError:  # magics, or a broken check: the mark goes last
        return f"{source}\n{mark}\n"
    if body and isinstance(body[-1], ast.Expr):
        lines = source.splitlines()
        start = body[-1].lineno - 1
        return "\n".join([*lines[:start], mark, *lines[start:]]) + "\n"
    return f"{source}\n{mark}\n"
