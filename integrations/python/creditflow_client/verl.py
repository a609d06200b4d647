"""creditflow as verl's credit stage.

Three hooks, from least to most information (docs/integrations.md has the details):

1. :func:`register_estimator` - a ``register_adv_est`` estimator for ``algorithm.adv_estimator=creditflow``.
   verl calls it with ``token_level_rewards``, ``response_mask`` and ``index`` (the uid) only, so it
   suits outcome-style methods (grpo, rloo, opo, gigpo-free group baselines, ...): token ids are
   sent as zeros.
2. :func:`install_compute_advantage` - replaces ``verl.trainer.ppo.ray_trainer.compute_advantage``
   (and the v1 trainer's import of it) by a wrapper that, for ``adv_estimator`` ``creditflow`` or
   ``creditflow:<method>``, sends the whole DataProto batch (token ids, mask, token-level rewards,
   uid, values, old/ref log-probs, per-row signals) and writes ``advantages``, ``returns`` and any
   loss weights back; every other estimator goes to verl's own function.
3. :class:`CreditflowRayPPOTrainerMixin` - the same, scoped to one trainer's ``fit()``.

verl itself is imported only inside these functions, so this module imports without it.
Batch layout (verl's ``DataProto``): ``responses``/``response_mask``/``token_level_rewards`` are
(bs, T) right-padded; ``attention_mask`` is (bs, P + T) and its last T columns mark real response
tokens; ``non_tensor_batch["uid"]`` is an object array of group ids.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from .client import CreditflowClient
from .tensors import PaddedLayout, assign_padded, row_sums, rows_from_padded, to_list

# verl batch key -> contract field, sent when the batch has it.
PER_TOKEN_KEYS = {"values": "values", "old_log_probs": "logprobs", "ref_log_prob": "ref_logprobs", "entropys": "entropies"}
# Per-row dicts a reward function can put in non_tensor_batch (verl keeps reward_extra_info there).
SIGNALS_KEY = "creditflow_signals"
FIELDS_KEY = "creditflow_fields"
WEIGHT_MODES = ("fold", "rollout_is_weights", "key")


def _has(batch: Any, key: str) -> bool:
    return key in batch.keys()


def client_from_env() -> CreditflowClient:
    """$CREDITFLOW_URL (service) or local mode; set it in the Ray runtime_env so every worker sees it.

    The encoding is $CREDITFLOW_ENCODING, else Arrow when numpy and pyarrow are installed (verl
    batches then go as columns, several times faster than rows), else JSON."""
    import importlib.util

    encoding = os.environ.get("CREDITFLOW_ENCODING") or ("arrow" if all(importlib.util.find_spec(m) for m in ("numpy", "pyarrow")) else "json")
    return CreditflowClient(os.environ.get("CREDITFLOW_URL") or None, encoding=encoding)


def _method_from_env(default: str = "grpo") -> Tuple[str, Dict[str, Any]]:
    config = os.environ.get("CREDITFLOW_CONFIG")
    return os.environ.get("CREDITFLOW_METHOD", default), (json.loads(config) if config else {})


def batch_fields(batch: Mapping[str, Any], non_tensor_batch: Optional[Mapping[str, Any]] = None) -> Tuple[PaddedLayout, Dict[str, Any]]:
    """The layout of a verl batch and the :func:`rows_from_padded` arguments that describe it."""
    non_tensor_batch = non_tensor_batch or {}
    mask = batch["response_mask"]
    width = len(to_list(mask[0])) if len(mask) else 0
    if _has(batch, "attention_mask"):
        # Responses are right-padded: the real tokens are [0, count of the response part of attention_mask).
        attention = batch["attention_mask"]
        response_attention = attention[:, attention.shape[1] - width:] if hasattr(attention, "shape") else [row[len(row) - width:] for row in attention]
        layout = PaddedLayout.from_lengths(row_sums(response_attention), width, "right")
    else:
        layout = PaddedLayout.from_mask([[1 if (m or r) else 0 for m, r in zip(mr, rr)] for mr, rr in zip(to_list(mask), to_list(_rewards(batch)))])
    uid = non_tensor_batch.get("uid")
    fields = {
        "groups": list(uid) if uid is not None else [str(b) for b in range(layout.batch_size)],
        "tokens": batch["responses"] if _has(batch, "responses") else None,
        "mask": mask,
        "token_rewards": _rewards(batch),
        "per_token": {name: batch[key] for key, name in PER_TOKEN_KEYS.items() if _has(batch, key)},
        "signals": _per_row(non_tensor_batch.get(SIGNALS_KEY)),
        "extra": _per_row(non_tensor_batch.get(FIELDS_KEY)),
    }
    return layout, fields


def batch_rows(batch: Mapping[str, Any], non_tensor_batch: Optional[Mapping[str, Any]] = None) -> Tuple[PaddedLayout, List[Dict[str, Any]]]:
    """Contract rows from a verl batch (a DataProto's ``batch`` TensorDict or a dict of arrays)."""
    layout, fields = batch_fields(batch, non_tensor_batch)
    return layout, rows_from_padded(layout, **fields)


def _rewards(batch: Mapping[str, Any]) -> Any:
    for key in ("token_level_rewards", "token_level_scores", "rm_scores"):
        if _has(batch, key):
            return batch[key]
    raise KeyError("the batch has no token_level_rewards, token_level_scores or rm_scores")


def _per_row(values: Any) -> Optional[List[Optional[Mapping[str, Any]]]]:
    if values is None:
        return None
    return [v if isinstance(v, Mapping) else (json.loads(v) if isinstance(v, str) and v else None) for v in list(values)]


def assign_batch(
    batch: Any,
    non_tensor_batch: Optional[Mapping[str, Any]] = None,
    *,
    method: str,
    config: Optional[Mapping[str, Any]] = None,
    client: Optional[CreditflowClient] = None,
    weights: str = "fold",
) -> Dict[str, Any]:
    """Assign credit to a verl batch and write ``advantages`` and ``returns`` (bs, T) into it.

    ``weights`` (for methods that emit loss weights): ``"fold"`` multiplies them into the
    advantages (exact for verl's PPO-clip, dual-clip, GSPO, CISPO and GPG losses, which are
    positively homogeneous in A for weights >= 0; not for ``geo_mean``); ``"rollout_is_weights"``
    multiplies them into ``batch["rollout_is_weights"]``, which verl's policy losses multiply in;
    ``"key"`` stores them as ``batch["creditflow_weights"]`` for a custom loss.
    Large batches: a client with ``encoding="arrow"`` sends the arrays as Arrow columns (no Python
    object per token). Returns the layout and the answer's (bs, T) arrays, for inspection."""
    if weights not in WEIGHT_MODES:
        raise ValueError(f"weights must be one of {WEIGHT_MODES}, not {weights!r}")
    layout, fields = batch_fields(batch, non_tensor_batch)
    like = batch["token_level_rewards"] if _has(batch, "token_level_rewards") else batch["response_mask"]
    answer = assign_padded(client or client_from_env(), method, layout, config, like=like, **fields)
    advantages = answer["advantages"]
    # Methods without returns: verl's outcome estimators set returns = advantages (before any weights).
    returns = answer["returns"] if "returns" in answer else advantages * 1
    if "weights" in answer:
        loss_weights = answer["weights"]
        if weights == "fold":
            advantages = advantages * loss_weights
        elif weights == "rollout_is_weights":
            existing = batch["rollout_is_weights"] if _has(batch, "rollout_is_weights") else None
            batch["rollout_is_weights"] = loss_weights if existing is None else existing * loss_weights
        else:
            batch["creditflow_weights"] = loss_weights
    batch["advantages"] = advantages
    batch["returns"] = returns
    return {"layout": layout, **answer}


def make_estimator(method: Optional[str] = None, config: Optional[Mapping[str, Any]] = None, client: Optional[CreditflowClient] = None):
    """The function verl's ``compute_advantage`` calls for a registered estimator.

    ``fn(token_level_rewards, response_mask, index=None, config=None, **kwargs) -> (advantages, returns)``,
    both (bs, T) like ``token_level_rewards``. Method and config default to $CREDITFLOW_METHOD and
    $CREDITFLOW_CONFIG, read when the function runs (so Ray workers see their runtime_env)."""

    def creditflow_estimator(token_level_rewards, response_mask, index=None, config=None, **kwargs):  # noqa: ARG001 - verl passes its algorithm config
        env_method, env_config = _method_from_env()
        batch: Dict[str, Any] = {"token_level_rewards": token_level_rewards, "response_mask": response_mask}
        non_tensor = {"uid": index} if index is not None else {}
        assign_batch(batch, non_tensor, method=method or env_method, config=chosen_config if chosen_config is not None else env_config, client=client)
        return batch["advantages"], batch["returns"]

    chosen_config = dict(config) if config is not None else None
    return creditflow_estimator


_registered: Dict[str, Any] = {}


def register_estimator(name: str = "creditflow", method: Optional[str] = None, config: Optional[Mapping[str, Any]] = None, client: Optional[CreditflowClient] = None):
    """Register :func:`make_estimator`'s function with verl's ``register_adv_est`` under ``name``
    (idempotent: verl refuses a *different* function under a taken name)."""
    from verl.trainer.ppo.core_algos import register_adv_est  # lazy: verl is optional

    if name not in _registered:
        _registered[name] = make_estimator(method, config, client)
        register_adv_est(name)(_registered[name])
    return _registered[name]


def _estimator_method(adv_estimator: Any, default_method: Optional[str]) -> Optional[str]:
    """'creditflow' -> the default method; 'creditflow:tempo' -> 'tempo'; anything else -> None (verl's own)."""
    name = str(getattr(adv_estimator, "value", adv_estimator))
    if name == "creditflow":
        return default_method or _method_from_env()[0]
    if name.startswith("creditflow:"):
        return name.split(":", 1)[1]
    return None


def wrap_compute_advantage(original, method: Optional[str] = None, config: Optional[Mapping[str, Any]] = None, client: Optional[CreditflowClient] = None, weights: str = "fold"):
    """verl's ``compute_advantage(data, adv_estimator, gamma, lam, num_repeat, norm_adv_by_std_in_grpo, config)``
    with creditflow for ``creditflow`` / ``creditflow:<method>`` estimators and ``original`` otherwise."""

    def compute_advantage(data, adv_estimator, gamma=1.0, lam=1.0, num_repeat=1, norm_adv_by_std_in_grpo=True, config=None):
        chosen = _estimator_method(adv_estimator, method)
        if chosen is None:
            return original(data, adv_estimator, gamma=gamma, lam=lam, num_repeat=num_repeat, norm_adv_by_std_in_grpo=norm_adv_by_std_in_grpo, config=config)
        if not _has(data.batch, "response_mask"):
            raise KeyError("creditflow needs batch['response_mask'] (verl sets it in fit())")
        method_config = dict(credit_config) if credit_config is not None else (_method_from_env()[1] if method is None else {})
        assign_batch(data.batch, data.non_tensor_batch, method=chosen, config=method_config, client=client, weights=weights)
        return data

    credit_config = dict(config) if config is not None else None
    compute_advantage.creditflow_original = original  # type: ignore[attr-defined]
    return compute_advantage


_PATCH_TARGETS = ("verl.trainer.ppo.ray_trainer", "verl.trainer.ppo.v1.utils")


def install_compute_advantage(method: Optional[str] = None, config: Optional[Mapping[str, Any]] = None, client: Optional[CreditflowClient] = None, weights: str = "fold") -> List[str]:
    """Route ``creditflow``/``creditflow:<method>`` estimators through creditflow in verl's trainers.

    Patches ``compute_advantage`` in the legacy trainer module and in the v1 trainer's utils (which
    imports it by name). Returns the patched module names. Idempotent. Note: the v1 trainer fetches
    only uid, response_mask, rm_scores, log-probs and values from its TransferQueue, so there token
    ids are sent as zeros (fine for every method that does not read token ids)."""
    import importlib

    patched = []
    for module_name in _PATCH_TARGETS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        current = module.compute_advantage
        original = getattr(current, "creditflow_original", current)
        module.compute_advantage = wrap_compute_advantage(original, method, config, client, weights)
        patched.append(module_name)
    if not patched:
        raise ImportError("verl is not installed (no verl.trainer.ppo.ray_trainer)")
    return patched


@contextlib.contextmanager
def patched_compute_advantage(**kwargs: Any) -> Iterator[None]:
    """:func:`install_compute_advantage` for the duration of a ``with`` block, then verl's own again."""
    import importlib

    saved = {}
    for module_name in _PATCH_TARGETS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        saved[module] = module.compute_advantage
    install_compute_advantage(**kwargs)
    try:
        yield
    finally:
        for module, fn in saved.items():
            module.compute_advantage = fn


class CreditflowRayPPOTrainerMixin:
    """``class Trainer(CreditflowRayPPOTrainerMixin, RayPPOTrainer)``: ``fit()`` runs with creditflow's
    ``compute_advantage`` for ``algorithm.adv_estimator=creditflow`` (or ``creditflow:<method>``).

    Set ``creditflow_method``, ``creditflow_config``, ``creditflow_client``, ``creditflow_weights``
    on the class or instance; unset ones come from $CREDITFLOW_METHOD / $CREDITFLOW_CONFIG / $CREDITFLOW_URL."""

    creditflow_method: Optional[str] = None
    creditflow_config: Optional[Mapping[str, Any]] = None
    creditflow_client: Optional[CreditflowClient] = None
    creditflow_weights: str = "fold"

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        with patched_compute_advantage(method=self.creditflow_method, config=self.creditflow_config, client=self.creditflow_client, weights=self.creditflow_weights):
            return super().fit(*args, **kwargs)  # type: ignore[misc]
