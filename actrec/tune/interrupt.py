"""Stopping a sweep: SIGINT / SIGTERM at any moment, handed to Tune's graceful stop while ``Tuner.fit`` runs."""

from __future__ import annotations

import contextlib
import os
import signal
import threading


class SweepInterrupted(BaseException):
    """SIGINT or SIGTERM reached the sweep driver (a BaseException, like KeyboardInterrupt: nothing may catch it on
    the way out but the driver's own cleanup)."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        self.signal_name = signal.Signals(signal_number).name
        super().__init__(self.signal_name)


TUNE_STOP_HANDLER = "signal_interrupt_tune_run"  # Tune's graceful-stop handler (on SIGUSR1 while Tuner.fit runs)


fitting = threading.Event()  # set while fit_experiment runs Tuner.fit


class Received(list):
    """Signals received while :func:`signals_interrupt` is active, in order; ``rearm()`` puts its handler back on
    SIGINT / SIGTERM after a library replaced it (``ray.init`` installs its own SIGTERM handler)."""

    def __init__(self, handler) -> None:
        super().__init__()
        self._handler = handler

    def rearm(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handler)


@contextlib.contextmanager
def signals_interrupt():
    """While the sweep runs, Ctrl-C (SIGINT) and SIGTERM (``ray job stop``, a shutdown, ``kill``) stop it; yields the
    :class:`Received` list of the signals received.

    During ``Tuner.fit`` a signal is handed to Tune's graceful-stop handler (the one Tune puts on SIGUSR1): Tune saves
    its experiment state, stops the trials and ``fit`` returns; :func:`raise_if_interrupted` then ends the sweep.
    Raising inside ``fit`` instead would surface from Ray's C++ core as a SystemError. Outside ``fit`` the signal
    raises :class:`SweepInterrupted` at once, and is also recorded: code that swallows the exception (``ray.init``
    waiting on its processes) cannot hide it from the next :func:`raise_if_interrupted`. Tune's own Ctrl-C handler
    is switched off (``TUNE_DISABLE_SIGINT_HANDLER``) so that every stop is seen here. Outside the main thread
    (signals cannot be handled there) nothing changes.
    """

    def on_signal(signum, frame):
        received.append(signum)
        tune_stop = signal.getsignal(signal.SIGUSR1)
        if fitting.is_set() and getattr(tune_stop, "__name__", "") == TUNE_STOP_HANDLER and len(received) == 1:
            tune_stop(signum, frame)  # the first signal: Tune ends fit() gracefully
        else:
            raise SweepInterrupted(signum)  # outside fit, or a second signal: at once

    received = Received(on_signal)
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    saved_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    saved = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if saved_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = saved_env


def raise_if_interrupted(received: list[int]) -> None:
    """After ``Tuner.fit`` returned: a signal received while it ran stopped it early."""
    if received:
        raise SweepInterrupted(received[0])
