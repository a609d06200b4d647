"""The OpenRLHF drop-in, driven with Experience-shaped data against a real `creditflow serve`.

OpenRLHF 0.11 layout (integration-formats.md §5, experience.py, samples_generator.py): each
Experience holds b samples; ``sequences`` (b, S) prompt + response token ids right-padded,
``action_mask`` (b, S - 1) where position j marks token ``sequences[:, j + 1]`` (0 on the prompt,
on environment observations and on padding), ``rewards`` (b,), ``index`` (sample positions in
prompt-major order), ``values``/``rollout_log_probs``/``kl`` (b, S - 1). Two experiences of 3
samples, n_samples_per_prompt = 3, with the samples of each prompt split across the experiences.
"""

from __future__ import annotations

import os
import sys
import types
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import ServiceCase, cli_assign  # noqa: E402


N = 3
# (prompt length, [(action tokens, observation tokens), ...] per turn) of each sample.
SAMPLES = [
    (3, [(4, 0)]),
    (2, [(2, 2), (2, 0)]),  # a multi-turn sample: 2 observation tokens between its two actions
    (3, [(1, 0)]),
    (2, [(5, 0)]),
    (3, [(3, 0)]),
    (2, [(2, 1), (1, 0)]),
]
REWARDS = [1.0, 0.0, 0.5, 1.0, 1.0, 0.0]
# Experience 0 holds samples 0, 3, 4 and experience 1 holds 1, 2, 5 (OpenRLHF balances experiences).
SPLIT = [[0, 3, 4], [1, 2, 5]]


def build(seed=3):
    """Experiences as OpenRLHF builds them, plus the action tokens and trained mask of each sample."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sequences, masks, truth = [], [], []
    for prompt_len, turns in SAMPLES:
        seq = list(rng.integers(3, 60, size=prompt_len))
        mask = [0] * prompt_len
        for act, obs in turns:
            seq += list(rng.integers(3, 60, size=act)) + list(rng.integers(3, 60, size=obs))
            mask += [1] * act + [0] * obs
        first = mask.index(1)
        last = len(mask) - 1 - mask[::-1].index(1)
        truth.append({"tokens": [int(x) for x in seq[first:last + 1]], "mask": mask[first:last + 1]})
        sequences.append(seq)
        masks.append(mask[1:])  # OpenRLHF's action_mask is shifted: position j scores token j + 1
    experiences = []
    for part in SPLIT:
        S = max(len(sequences[i]) for i in part)
        seq = np.zeros((len(part), S), dtype=np.int64)
        act = np.zeros((len(part), S - 1), dtype=bool)
        for r, i in enumerate(part):
            seq[r, : len(sequences[i])] = sequences[i]
            act[r, : len(masks[i])] = masks[i]
        experiences.append(
            types.SimpleNamespace(
                sequences=seq,
                attention_mask=(seq != 0).astype(np.int64),
                action_mask=act,
                rewards=np.array([REWARDS[i] for i in part], dtype=np.float32),
                index=list(part),
                values=(rng.standard_normal(act.shape) * act).astype(np.float32),
                rollout_log_probs=(-rng.random(act.shape) * act).astype(np.float32),
                action_log_probs=np.zeros(act.shape, dtype=np.float32),
                base_action_log_probs=None,
                kl=(rng.random(act.shape) * 0.1 * act).astype(np.float32),
                info={},
            )
        )
    return experiences, truth


def rows_by_hand(experiences, truth, kl_coef=0.0):
    rows = []
    for e, (exp, part) in enumerate(zip(experiences, SPLIT)):
        for r, i in enumerate(part):
            on = [j for j, m in enumerate(exp.action_mask[r]) if m]
            s, t = on[0], on[-1] + 1
            row = {"id": f"{e}-{r}", "group": str(i // N), "tokens": truth[i]["tokens"], "reward": REWARDS[i]}
            if kl_coef:
                kl = [-kl_coef * float(x) for x in exp.kl[r, s:t]]
                row["reward"] += kl[-1]
                kl[-1] = 0.0
                if any(kl):
                    row["token_rewards"] = kl
            if not all(truth[i]["mask"]):
                row["mask"] = truth[i]["mask"]
            row["values"] = exp.values[r, s:t].astype(float).tolist()
            row["logprobs"] = exp.rollout_log_probs[r, s:t].astype(float).tolist()
            rows.append(row)
    return rows


class OpenRlhfTest(ServiceCase):
    def check(self, method, config=None, kl_coef=0.0):
        import numpy as np

        from creditflow_client.openrlhf import assign_experiences

        experiences, truth = build()
        assign_experiences(experiences, method=method, config=config, client=self.client, n_samples_per_prompt=N, kl_coef=kl_coef)
        expected = cli_assign(method, rows_by_hand(*build(), kl_coef=kl_coef), config)
        k = 0
        for exp in experiences:
            self.assertEqual(exp.advantages.shape, exp.action_mask.shape)
            for r in range(len(exp.index)):
                on = [j for j, m in enumerate(exp.action_mask[r]) if m]
                s, t = on[0], on[-1] + 1
                np.testing.assert_allclose(exp.advantages[r, s:t], expected[k]["advantages"], rtol=1e-6, atol=1e-7, err_msg=method)
                self.assertTrue(np.all(exp.advantages[r, :s] == 0) and np.all(exp.advantages[r, t:] == 0), "0 on prompt and padding")
                key = "returns" if "returns" in expected[k] else "advantages"
                np.testing.assert_allclose(exp.returns[r, s:t], expected[k][key], rtol=1e-6, atol=1e-7)
                k += 1
        return experiences

    def test_rows_are_the_contract_rows(self):
        from creditflow_client.openrlhf import experience_rows

        experiences, truth = build()
        _, rows = experience_rows(experiences, N, kl_coef=0.05)
        self.assertEqual(rows, rows_by_hand(experiences, truth, kl_coef=0.05))

    def test_methods_equal_cli(self):
        for method, config, kl_coef in [("grpo", None, 0.0), ("rloo", None, 0.05), ("gae", {"gamma": 0.95, "lambda": 0.9}, 0.0), ("tempo", None, 0.0)]:
            self.check(method, config, kl_coef)

    def test_group_norm_matches_openrlhf_formula(self):
        # OpenRLHF's group_norm with gamma 1: every action token gets (R - mean_g) / (std_g + 1e-9), unbiased std.
        import numpy as np

        experiences = self.check("grpo", {"eps": 1e-9})
        rewards = np.array(REWARDS).reshape(-1, N)
        shaped = ((rewards - rewards.mean(-1, keepdims=True)) / (rewards.std(-1, ddof=1, keepdims=True) + 1e-9)).reshape(-1)
        for exp in experiences:
            for r, i in enumerate(exp.index):
                trained = exp.advantages[r][exp.action_mask[r]]
                np.testing.assert_allclose(trained, shaped[i], rtol=1e-6)

    def test_mixin_and_install(self):
        import numpy as np

        from creditflow_client.openrlhf import CreditflowExperienceMakerMixin, install

        class RemoteExperienceMaker:  # stands in for OpenRLHF's, with the attributes the mixin reads
            def __init__(self):
                args = types.SimpleNamespace(rollout=types.SimpleNamespace(n_samples_per_prompt=N), reward=types.SimpleNamespace(clip_range=(-0.5, 0.5)), algo=types.SimpleNamespace(kl=types.SimpleNamespace(use_loss=True)))
                self.strategy = types.SimpleNamespace(args=args)
                self.kl_ctl = types.SimpleNamespace(value=0.1)

        ppo_trainer = types.ModuleType("openrlhf.trainer.ppo_trainer")
        ppo_trainer.RemoteExperienceMaker = RemoteExperienceMaker
        modules = {"openrlhf": types.ModuleType("openrlhf"), "openrlhf.trainer": types.ModuleType("openrlhf.trainer"), "openrlhf.trainer.ppo_trainer": ppo_trainer}
        saved = {k: sys.modules.get(k) for k in modules}
        sys.modules.update(modules)
        try:
            maker_cls = install("rloo", client=self.client)
            self.assertIs(ppo_trainer.RemoteExperienceMaker, maker_cls)
            self.assertTrue(issubclass(maker_cls, CreditflowExperienceMakerMixin) and issubclass(maker_cls, RemoteExperienceMaker))
            self.assertIs(install("rloo", client=self.client).__mro__[2], RemoteExperienceMaker, "installing twice does not stack")
            experiences, truth = build()
            for exp in experiences:
                exp.rewards = _Clampable(exp.rewards)
            maker_cls().compute_advantages_and_returns(experiences)
            clipped = [min(max(r, -0.5), 0.5) for r in REWARDS]
            rows = rows_by_hand(*build())
            for row in rows:
                i = SPLIT[int(row["id"][0])][int(row["id"][2])]
                row["reward"] = clipped[i]
            expected = cli_assign("rloo", rows)
            got = [exp.advantages[r][exp.action_mask[r]].tolist() for exp in experiences for r in range(len(exp.index))]
            want = [[a for a, m in zip(e["advantages"], row.get("mask", [1] * len(e["advantages"]))) if m] for e, row in zip(expected, rows)]
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
            self.assertIsNone(experiences[0].kl)
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v


class _Clampable:
    """A numpy vector with torch's ``clamp`` (the mixin clips rewards with OpenRLHF's torch call)."""

    def __init__(self, values):
        self.values = values

    def clamp(self, min, max):  # noqa: A002 - torch's argument names
        import numpy as np

        return np.clip(self.values, min, max)


if __name__ == "__main__":
    unittest.main()
