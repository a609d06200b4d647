"""creditflow as OpenRLHF's advantage stage (RemoteExperienceMaker.compute_advantages_and_returns).

OpenRLHF (0.11) keeps a rollout batch as a list of ``Experience`` objects, each with
``sequences`` (b, S) token ids of prompt + response, right-padded; ``action_mask`` (b, A) over the
last A positions of ``sequences`` (A = S - 1: position j scores token ``sequences[:, S - A + j]``),
1 on tokens the policy produced, 0 on the prompt, on tool/environment observations and on padding;
``rewards`` (b,) one scalar per sample; ``index`` (list of b ints, the sample's position in the
prompt-major order, so its group is ``index // n_samples_per_prompt``); optional ``values``,
``rollout_log_probs``, ``base_action_log_probs`` and ``kl`` (b, A).

Each sample's response is the span from its first to its last action token (observation tokens
inside keep mask 0); advantages and returns come back as (b, A) tensors, 0 outside the span.
OpenRLHF itself is imported lazily: this module imports without it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from .client import CreditflowClient
from .tensors import PaddedLayout, has_key, padded_from_rows, rows_from_padded, to_list

# Experience attribute -> contract field, sent when present.
PER_TOKEN_ATTRS = {"values": "values", "rollout_log_probs": "logprobs", "base_action_log_probs": "ref_logprobs"}
WEIGHT_MODES = ("fold", "attribute")


def _action_tokens(experience: Any) -> list:
    width = len(to_list(experience.action_mask[0])) if len(experience.action_mask) else 0
    return [row[len(row) - width:] for row in to_list(experience.sequences)]


def experience_rows(experiences: Sequence[Any], n_samples_per_prompt: int, kl_coef: float = 0.0) -> Tuple[List[PaddedLayout], List[Dict[str, Any]]]:
    """Contract rows for every sample of every experience (in experience order), and each experience's layout.

    ``kl_coef`` > 0 adds OpenRLHF's in-reward KL penalty ``-kl_coef * kl`` as token rewards
    (as its ``compute_reward`` does); the outcome reward sits on the last action token, as there."""
    layouts, rows = [], []
    for e_index, exp in enumerate(experiences):
        layout = PaddedLayout.from_mask(exp.action_mask)
        indices = [int(i) for i in (exp.index if exp.index is not None else range(layout.batch_size))]
        per_token = {name: getattr(exp, attr) for attr, name in PER_TOKEN_ATTRS.items() if getattr(exp, attr, None) is not None}
        token_rewards = None
        if kl_coef and getattr(exp, "kl", None) is not None:
            token_rewards = [[-kl_coef * float(x) for x in row] for row in to_list(exp.kl)]
        rows += rows_from_padded(
            layout,
            ids=[f"{e_index}-{k}" for k in range(layout.batch_size)],
            groups=[i // n_samples_per_prompt for i in indices],
            tokens=_action_tokens(exp),
            mask=exp.action_mask,
            rewards=exp.rewards,
            token_rewards=_zero_outside(token_rewards, exp.action_mask) if token_rewards is not None else None,
            per_token=per_token,
            signals=getattr(exp, "creditflow_signals", None),
            extra=getattr(exp, "creditflow_fields", None),
        )
        layouts.append(layout)
    return layouts, rows


def _zero_outside(dense: List[List[float]], action_mask: Any) -> List[List[float]]:
    # OpenRLHF's KL is masked by action_mask: no penalty on prompt, observation or padding positions.
    return [[x if m else 0.0 for x, m in zip(row, mrow)] for row, mrow in zip(dense, to_list(action_mask))]


def assign_experiences(
    experiences: Sequence[Any],
    *,
    method: str,
    n_samples_per_prompt: int,
    config: Optional[Dict[str, Any]] = None,
    client: Optional[CreditflowClient] = None,
    kl_coef: float = 0.0,
    weights: str = "fold",
) -> List[Dict[str, Any]]:
    """Set ``advantages`` and ``returns`` (b, A) on every experience from one creditflow call over
    the whole rollout batch (groups span experiences). Methods with loss weights: ``"fold"``
    multiplies them into the advantages (exact for OpenRLHF's PPO/GSPO clip losses for weights >= 0),
    ``"attribute"`` stores them as ``experience.creditflow_weights``. Returns the answer rows."""
    if weights not in WEIGHT_MODES:
        raise ValueError(f"weights must be one of {WEIGHT_MODES}, not {weights!r}")
    layouts, rows = experience_rows(experiences, n_samples_per_prompt, kl_coef)
    answer = (client or CreditflowClient()).assign(method, rows, config)
    start = 0
    for exp, layout in zip(experiences, layouts):
        part = answer[start:start + layout.batch_size]
        start += layout.batch_size
        like = exp.action_log_probs if getattr(exp, "action_log_probs", None) is not None else exp.rewards
        advantages = padded_from_rows(layout, part, "advantages", like=like)
        exp.returns = padded_from_rows(layout, part, "returns" if has_key(part, "returns") else "advantages", like=like)
        if has_key(part, "weights"):
            loss_weights = padded_from_rows(layout, part, "weights", like=like, fill=1.0)
            if weights == "fold":
                advantages = advantages * loss_weights
            else:
                exp.creditflow_weights = loss_weights
        exp.advantages = advantages
    return answer


class CreditflowExperienceMakerMixin:
    """``class Maker(CreditflowExperienceMakerMixin, RemoteExperienceMaker)``: per-token advantages from creditflow.

    Replaces OpenRLHF's baseline, ``compute_reward`` and return/GAE stage; keeps its length
    penalties (``apply_length_penalties``) and reward clip, and puts the in-reward KL (``-kl_ctl.value * kl``)
    into the token rewards unless ``algo.kl.use_loss`` is set. No global whitening is applied on top:
    the method's advantages are used as they come (methods that whiten, e.g. gae and reinforce++, do it themselves)."""

    creditflow_method: str = "grpo"
    creditflow_config: Optional[Dict[str, Any]] = None
    creditflow_client: Optional[CreditflowClient] = None
    creditflow_weights: str = "fold"

    def compute_advantages_and_returns(self, experiences, **kwargs):  # noqa: ARG002 - same signature as OpenRLHF
        args = self.strategy.args
        try:
            from openrlhf.trainer.ppo_utils.experience_maker import apply_length_penalties
        except ImportError:  # older OpenRLHF without the helper
            apply_length_penalties = None
        if apply_length_penalties is not None:
            apply_length_penalties(experiences, args)
        clip = getattr(getattr(args, "reward", None), "clip_range", None)
        if clip:
            for exp in experiences:
                exp.rewards = exp.rewards.clamp(min=clip[0], max=clip[1])
        kl = getattr(getattr(args, "algo", None), "kl", None)
        kl_coef = 0.0 if getattr(kl, "use_loss", False) else float(getattr(getattr(self, "kl_ctl", None), "value", 0.0) or 0.0)
        assign_experiences(
            experiences,
            method=self.creditflow_method,
            config=self.creditflow_config,
            client=self.creditflow_client,
            n_samples_per_prompt=args.rollout.n_samples_per_prompt,
            kl_coef=kl_coef,
            weights=self.creditflow_weights,
        )
        for exp in experiences:
            exp.info["return"] = exp.rewards
            exp.kl = None
        return experiences


def install(method: str, config: Optional[Dict[str, Any]] = None, client: Optional[CreditflowClient] = None, weights: str = "fold") -> type:
    """Make OpenRLHF's PPO trainer build a creditflow experience maker.

    Patches ``openrlhf.trainer.ppo_trainer.RemoteExperienceMaker`` with a subclass; call it in the
    process that constructs the trainer (the ``PPOTrainer`` Ray actor: e.g. from a Ray
    ``worker_process_setup_hook`` or at the top of a copied ``train_ppo_ray.py``). Returns the subclass."""
    import openrlhf.trainer.ppo_trainer as ppo_trainer  # lazy: OpenRLHF is optional

    base = getattr(ppo_trainer.RemoteExperienceMaker, "creditflow_base", ppo_trainer.RemoteExperienceMaker)
    maker = type(
        "CreditflowExperienceMaker",
        (CreditflowExperienceMakerMixin, base),
        {"creditflow_method": method, "creditflow_config": config, "creditflow_client": client, "creditflow_weights": weights, "creditflow_base": base},
    )
    ppo_trainer.RemoteExperienceMaker = maker
    return maker
