"""creditflow in TRL: a ``GRPOTrainer`` whose advantages are per token, from any creditflow method.

TRL's ``GRPOTrainer._generate_and_score_completions`` returns one advantage per completion,
shape (B,), and ``_compute_loss`` broadcasts a (B,) tensor as (B, 1) but uses a (B, T) one as it
is (TRL >= 0.26). :class:`CreditflowGRPOTrainer` keeps TRL's generation and reward functions,
then replaces ``advantages`` by creditflow's (B, T) advantages over the completion tokens
(right-padded, 0 on padding and on ``tool_mask`` tokens).

Groups are TRL's: ``num_generations`` consecutive completions of the gathered (all-process)
batch. Each process sends the gathered batch (so group baselines see every completion) and keeps
its own slice. A completion whose reward functions all returned None is left out of the request
(advantage 0), as TRL leaves it out of its group baseline.

Loss weights (methods that emit them) are folded into the advantages: the per-token term of
every TRL loss type is ``c(ratio) * A`` with a sign-only dependence on A, so ``A * w`` equals
weighting the token's policy loss by ``w >= 0`` (the KL and entropy terms are not weighted).
Keep ``use_liger_kernel=False`` (Liger's fused loss takes per-sequence advantages).

TRL is imported when the class is first used: ``from creditflow_client.trl import CreditflowGRPOTrainer``
needs TRL, ``import creditflow_client.trl`` does not.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from .client import CreditflowClient
from .tensors import PaddedLayout, has_key, padded_from_rows, rows_from_padded, to_list


def completion_rows(
    completion_ids: Any,
    completion_mask: Any,
    rewards: List[float],
    num_generations: int,
    tool_mask: Any = None,
) -> tuple:
    """Contract rows for a gathered TRL batch: row g is completion g, group ``g // num_generations``.

    Returns (layout, rows, kept): ``kept`` lists the batch rows sent (rows with a NaN reward, TRL's
    unscorable completions, are left out)."""
    layout = PaddedLayout.from_lengths([sum(1 for x in row if x) for row in to_list(completion_mask)], len(to_list(completion_mask[0])) if len(completion_mask) else 0, "right")
    trained = completion_mask if tool_mask is None else [[a * b for a, b in zip(r, t)] for r, t in zip(to_list(completion_mask), to_list(tool_mask))]
    all_rows = rows_from_padded(
        layout,
        ids=[str(g) for g in range(layout.batch_size)],
        groups=[str(g // num_generations) for g in range(layout.batch_size)],
        tokens=completion_ids,
        mask=trained,
        rewards=[0.0 if math.isnan(r) else r for r in rewards],
    )
    kept = [g for g, r in enumerate(rewards) if not math.isnan(r)]
    return layout, [all_rows[g] for g in kept], kept


def _build_trainer_class():
    import torch
    from trl import GRPOTrainer

    class CreditflowGRPOTrainer(GRPOTrainer):
        """``GRPOTrainer`` with per-token advantages from creditflow.

        Extra arguments: ``credit_method`` (a creditflow method name, default ``"grpo"``),
        ``credit_config`` (its options), ``credit_client`` (a :class:`CreditflowClient`; default:
        local mode). After each generation, ``self.last_credit`` holds the rows sent, the answer,
        and TRL's own per-sequence advantages (for comparison)."""

        def __init__(self, *args: Any, credit_method: str = "grpo", credit_config: Optional[Dict[str, Any]] = None, credit_client: Optional[CreditflowClient] = None, **kwargs: Any):
            super().__init__(*args, **kwargs)
            if getattr(self, "use_liger_kernel", False):
                raise ValueError("CreditflowGRPOTrainer needs use_liger_kernel=False: Liger's fused GRPO loss takes per-sequence advantages")
            self.credit_method = credit_method
            self.credit_config = dict(credit_config or {})
            self.credit_client = credit_client or CreditflowClient()
            self.last_credit: Optional[Dict[str, Any]] = None
            self._credit_rewards_per_func = None

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            # The gathered (all-process) reward matrix; TRL does not return it, so keep it here.
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._credit_rewards_per_func = rewards_per_func
            return rewards_per_func

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            mode = "train" if self.model.training else "eval"
            num_generations = self.num_generations if mode == "train" else self.num_generations_eval
            per_func = self._credit_rewards_per_func
            weights = self.reward_weights.to(per_func.device).unsqueeze(0)
            rewards = (per_func * weights).nansum(dim=1)
            rewards[torch.isnan(per_func).all(dim=1)] = float("nan")  # TRL's unscorable rows

            completion_ids, completion_mask = out["completion_ids"], out["completion_mask"]
            tool_mask = out.get("tool_mask")
            gathered = {
                "ids": self.accelerator.gather(self.accelerator.pad_across_processes(completion_ids, dim=1, pad_index=0)),
                "mask": self.accelerator.gather(self.accelerator.pad_across_processes(completion_mask, dim=1, pad_index=0)),
            }
            if tool_mask is not None:
                gathered["tool"] = self.accelerator.gather(self.accelerator.pad_across_processes(tool_mask, dim=1, pad_index=0))
            layout, rows, kept = completion_rows(gathered["ids"], gathered["mask"], rewards.tolist(), num_generations, gathered.get("tool"))
            answer = self.credit_client.assign(self.credit_method, rows, self.credit_config)

            # Back to this process's rows, at the local (B, C) width.
            by_row: List[Optional[Dict[str, Any]]] = [None] * layout.batch_size
            for g, row in zip(kept, answer):
                by_row[g] = row
            start = self.accelerator.process_index * len(completion_ids)
            local = PaddedLayout.from_lengths(completion_mask.sum(dim=1).tolist(), completion_mask.shape[1], "right")
            local_answer = [by_row[start + b] or {"advantages": [0.0] * (e - s)} for b, (s, e) in enumerate(local.spans)]
            advantages = padded_from_rows(local, local_answer, "advantages", like=torch.zeros((), dtype=torch.float32, device=completion_ids.device))
            if has_key(local_answer, "weights"):
                advantages = advantages * padded_from_rows(local, local_answer, "weights", like=advantages, fill=1.0)
            self.last_credit = {"rows": rows, "answer": answer, "kept": kept, "trl_advantages": out["advantages"], "rewards": rewards}
            out["advantages"] = advantages
            return out

    return CreditflowGRPOTrainer


_cache: Dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    # PEP 562: build the GRPOTrainer subclass (importing TRL and torch) only when someone asks for it.
    if name == "CreditflowGRPOTrainer":
        if name not in _cache:
            _cache[name] = _build_trainer_class()
        return _cache[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
