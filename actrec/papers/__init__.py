"""The papers actrec reproduces, one module each: the paper's name and citation, its recipe (the ``paper`` profile
and the ``smoke`` / ``local`` CPU profiles), its tables' dataset columns and synthetic stand-ins, and the builders and
hooks its sweep scripts (``sweeps/``) call. Generic code (``actrec.tune``, ``train``, ``track``, ``report``, ``data``)
never imports these modules: a sweep script hands its ``SweepSpec`` to the driver.
"""
