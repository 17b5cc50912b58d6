"""The readout sweep on Ray: each network a Ray task, the records written by the driver.

``lyapax readout --ray`` (or ``run_study(..., ray=True)``) hands every network of
the study to `train_network` inside a Ray task and
writes each record (atomically, in this process) as its task finishes, so the
results, files and resumability are those of the sequential run. A record
depends only on the study's settings and the network's own seed, never on where
or in which order it was trained.

Where the tasks run:

- no address (and no ``RAY_ADDRESS``): a local Ray instance started for the run
  (``ray.init(address="local")``) and shut down at its end;
- ``address`` (``--ray-address``) or ``RAY_ADDRESS``: an existing cluster, started
  with Ray's own ``ray start --head`` / ``ray start --address=...``;
- Ray already initialised in this process: that instance, left running.

This module needs ``pip install "lyapax-rnn[ray]"``; a worker imports numpy, lyapax and
PyTorch (which the readout trains with), never another framework.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..install import pip_install
from .tasks import CharCorpus
from .train import NetworkConfig, TrainConfig, train_network

try:
    import ray
except ImportError as exc:
    raise ImportError(f"lyapax.readout.ray_sweep needs Ray, which is not installed ({exc}): {pip_install('ray')}") from exc

__all__ = ["RayOptions", "train_on_ray", "connect"]

#: Seconds the driver waits for a TCP answer from a named cluster before saying it is unreachable
#: (Ray itself keeps retrying an unreachable address for minutes).
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class RayOptions:
    """Where and how the networks of a sweep run on Ray.

    Attributes:
        address: an existing cluster (``"host:port"`` of its head node, ``"ray://host:port"``
            for Ray Client, or ``"auto"``); ``None``: ``RAY_ADDRESS`` if set, else a local
            instance started for the run.
        num_cpus: CPUs of the local instance (default: all of this machine's); only for
            a local instance, a cluster's nodes declare theirs with ``ray start --num-cpus``.
        task_cpus: CPUs reserved per network (default: the study's ``threads``, 1).
        init_kwargs: further keywords of ``ray.init`` (e.g. ``runtime_env``), copied.
    """

    address: str | None = None
    num_cpus: int | None = None
    task_cpus: float | None = None
    init_kwargs: dict[str, Any] = field(default_factory=dict)


def _resolve_address(address: str | None) -> tuple[str, str]:
    """The address to pass to ``ray.init`` and the name of the option it came from."""
    if address is not None:
        return address, "ray_address (--ray-address)"
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if env:
        return env, "RAY_ADDRESS"
    return "local", ""


def _check_reachable(address: str, option: str) -> None:
    """One TCP connection to ``host:port`` with a short timeout: a clear error now instead of Ray's long retries."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(
            f"{option}: expected 'host:port' of a Ray head node (or 'ray://host:port', 'auto'), got {address!r}."
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise InputError(
            f"{option}: no Ray cluster answers at {address!r} ({exc}). Start one with `ray start --head` on the head "
            "node (it prints the address to use), check host, port and firewall, or leave the address unset "
            "(and RAY_ADDRESS empty) to start a local Ray instance for the run."
        ) from None


def _check_temp_dir(kwargs: dict[str, Any]) -> None:
    """Refuse a Ray temp folder inside the active virtualenv: Ray's workers refuse to start there and
    the driver would wait for them forever (this happens under nox and tox, which set TMPDIR so)."""
    venv = os.environ.get("VIRTUAL_ENV")
    if not venv:
        return
    # Ray's own rule for the folder of a local instance: RAY_TMPDIR, else TMPDIR on Linux, else /tmp (POSIX).
    if "RAY_TMPDIR" in os.environ:
        base = os.environ["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and "TMPDIR" in os.environ:
        base = os.environ["TMPDIR"]
    else:
        base = "/tmp" if sys.platform.startswith(("linux", "darwin")) else tempfile.gettempdir()
    temp = os.path.realpath(kwargs.get("_temp_dir") or os.path.join(base, "ray"))
    root = os.path.realpath(venv)
    if os.path.commonpath([temp, root]) == root:
        raise InputError(
            f"RAY_TMPDIR / TMPDIR: Ray would keep its session files in {temp!r}, inside the virtualenv {root!r}, "
            "where Ray's workers refuse to start (the sweep would hang). Set RAY_TMPDIR to a folder outside the "
            "virtualenv, e.g. RAY_TMPDIR=/tmp."
        )


def connect(options: RayOptions) -> bool:
    """Initialise Ray for a sweep as `RayOptions` says; returns whether this call started it.

    When Ray is already initialised in this process and no address is given, that
    instance is used (and the caller should leave it running).

    Raises:
        InputError: the address is malformed or nothing answers there, or ``num_cpus``
            was given for a cluster.
    """
    if ray.is_initialized():
        if options.address is not None:
            raise InputError(
                f"ray_address (--ray-address): Ray is already initialised in this process; call ray.shutdown() "
                f"first to connect to {options.address!r}, or leave the address unset to use the running instance."
            )
        return False
    address, option = _resolve_address(options.address)
    kwargs = dict(options.init_kwargs)
    if address == "local":
        kwargs.setdefault("include_dashboard", False)
        if options.num_cpus is not None:
            kwargs["num_cpus"] = int(options.num_cpus)
    elif options.num_cpus is not None:
        raise InputError(
            f"num_cpus (--ray-cpus): only for a local Ray instance; the cluster at {address!r} ({option}) has the "
            "CPUs its nodes declared (`ray start --num-cpus N`). Drop the option, or the address to run locally."
        )
    _check_reachable(address, option)
    if address == "local":
        _check_temp_dir(kwargs)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise InputError(f"{option}: could not connect to a Ray cluster at {address!r}: {exc}") from exc
    return True


def _train_task(net: NetworkConfig, train: TrainConfig, corpus: CharCorpus,
                monitor_factory: Callable[..., Any] | None) -> dict[str, Any]:
    # The same per-network function as the sequential path; Ray resolves the corpus reference.
    return train_network(net, train, corpus, monitor_factory=monitor_factory)


def train_on_ray(
    todo: list[NetworkConfig],
    train: TrainConfig,
    corpus: CharCorpus,
    options: RayOptions,
    *,
    monitor_factory: Callable[..., Any] | None = None,
    log: Callable[[str], Any] = print,
) -> Iterator[tuple[NetworkConfig, dict[str, Any]]]:
    """Train ``todo`` as Ray tasks, yielding ``(network, record)`` in the order they finish.

    The caller writes the records. Closing the generator early (an exception, Ctrl-C)
    cancels the tasks still running and shuts down a Ray instance started here.
    """
    if not todo:
        return
    started = connect(options)
    pending: dict[Any, NetworkConfig] = {}
    try:
        cpus = options.task_cpus if options.task_cpus is not None else max(1, int(train.threads))
        task = ray.remote(_train_task).options(num_cpus=cpus)
        corpus_ref = ray.put(corpus)  # one copy in the object store, shared by every task
        pending = {task.remote(net, train, corpus_ref, monitor_factory): net for net in todo}
        log(f"ray: {len(todo)} networks submitted, {cpus:g} CPU each; cluster resources {ray.cluster_resources()}")
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                net = pending.pop(ref)
                yield net, ray.get(ref)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
