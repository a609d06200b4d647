"""Loaded by verl itself: ``VERL_USE_EXTERNAL_MODULES=creditflow_client.verl_plugin`` (verl >= 0.8),
or automatically through this package's ``verl.plugins`` entry point (verl >= 0.9).

Importing it registers the ``creditflow`` advantage estimator and routes ``creditflow`` /
``creditflow:<method>`` estimators through :func:`creditflow_client.verl.install_compute_advantage`
(full batch: token ids, values, log-probs, signals). Every other estimator is verl's own.
Method, options and service come from $CREDITFLOW_METHOD (default grpo), $CREDITFLOW_CONFIG (JSON)
and $CREDITFLOW_URL (unset: the local ``creditflow`` CLI), read when advantages are computed;
put them in the Ray ``runtime_env`` so the trainer process sees them.
"""

from __future__ import annotations

from .verl import install_compute_advantage, register_estimator

estimator = register_estimator("creditflow")
patched_modules = install_compute_advantage()
