"""Loaded by every Python process whose PYTHONPATH holds this directory (tests/conftest.py sets it).

Installs tests/netguard in the process when $NETGUARD_LOG is set, then runs the
sitecustomize this file shadows, if any. Standard library only and never raises:
a guard that broke interpreter startup would break the subprocess under test.
"""

try:
    import importlib.machinery
    import importlib.util
    import os
    import sys

    def _load(name: str, path: str) -> None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)

    _here = os.path.dirname(os.path.abspath(__file__))
    if os.environ.get("NETGUARD_LOG"):
        # A private name: the guard is not importable as `netguard` by the code under test.
        _load("_netguard", os.path.join(os.path.dirname(_here), "__init__.py"))
        sys.modules["_netguard"].install_from_env()

    _rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    _shadowed = importlib.machinery.PathFinder.find_spec("sitecustomize", _rest)
    if _shadowed is not None and _shadowed.origin and _shadowed.origin != os.path.abspath(__file__):
        _load("sitecustomize", _shadowed.origin)
except Exception:  # see the docstring: never break startup
    pass
