"""The verl drop-in, driven with numpy data shaped like verl's DataProto against a real `creditflow serve`.

Batch as verl holds it (integration-formats.md §3.2): bs = 6 responses of 2 prompts (uid repeated
n = 3 times), prompts left-padded to P = 4, responses right-padded to T = 6; ``responses`` int64,
``response_mask`` (a tool token mid-response in row 1), ``attention_mask`` (bs, P + T),
``token_level_rewards`` float32 with the score on the last valid response token (row 4 also has a
dense token reward), ``values``, ``old_log_probs``, ``entropys`` float32; ``non_tensor_batch["uid"]``
an object array. Expected values come from `creditflow assign` on rows written out by hand here,
and for grpo also from verl's formula computed in numpy.
"""

from __future__ import annotations

import os
import sys
import types
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import CLI, ServiceCase, cli_assign, require  # noqa: E402

from creditflow_client import CreditflowClient  # noqa: E402

P, T = 4, 6
LENGTHS = [6, 4, 2, 5, 3, 1]  # real response tokens per row; the rest is right padding
SCORES = [1.0, 0.0, 1.0, 0.5, 0.0, 2.0]


def make_batch():
    import numpy as np

    rng = np.random.default_rng(7)
    bs = len(LENGTHS)
    responses = np.zeros((bs, T), dtype=np.int64)
    response_mask = np.zeros((bs, T), dtype=np.int64)
    token_level_rewards = np.zeros((bs, T), dtype=np.float32)
    attention_mask = np.zeros((bs, P + T), dtype=np.int64)
    for b, n in enumerate(LENGTHS):
        responses[b, :n] = rng.integers(3, 50, size=n)
        response_mask[b, :n] = 1
        token_level_rewards[b, n - 1] = SCORES[b]
        attention_mask[b, P - 2 - b % 2:P] = 1  # left-padded prompt of 2 or 3 tokens
        attention_mask[b, P:P + n] = 1
    response_mask[1, 2] = 0  # a tool token inside row 1's response
    token_level_rewards[4, 0] = -0.25  # a dense (e.g. KL) reward on row 4
    batch = {
        "prompts": rng.integers(3, 50, size=(bs, P)).astype(np.int64),
        "responses": responses,
        "response_mask": response_mask,
        "attention_mask": attention_mask,
        "token_level_rewards": token_level_rewards,
        "values": (rng.standard_normal((bs, T)) * response_mask).astype(np.float32),
        "old_log_probs": (-rng.random((bs, T)) * response_mask).astype(np.float32),
        "entropys": (rng.random((bs, T)) * 2 * response_mask).astype(np.float32),
    }
    uid = np.array(["prompt-a"] * 3 + ["prompt-b"] * 3, dtype=object)
    return batch, {"uid": uid}


def rows_by_hand(batch, uid):
    """The contract rows of the batch, written out directly from the arrays (independent of the drop-in)."""
    rows = []
    for b, n in enumerate(LENGTHS):
        mask = batch["response_mask"][b, :n].tolist()
        r = batch["token_level_rewards"][b, :n].astype(float).tolist()
        row = {"id": str(b), "group": uid[b], "tokens": batch["responses"][b, :n].tolist(), "reward": r[n - 1]}
        if b == 4:
            row["token_rewards"] = [r[0]] + [0.0] * (n - 1)
        if not all(mask):
            row["mask"] = mask
        row["values"] = batch["values"][b, :n].astype(float).tolist()
        row["logprobs"] = batch["old_log_probs"][b, :n].astype(float).tolist()
        row["entropies"] = batch["entropys"][b, :n].astype(float).tolist()
        rows.append(row)
    return rows


def expected_padded(answer, key="advantages"):
    import numpy as np

    out = np.zeros((len(LENGTHS), T))
    for b, row in enumerate(answer):
        out[b, : len(row[key])] = row[key]
    return out


class VerlBatchTest(ServiceCase):
    def assign(self, method, config=None, weights="fold"):
        from creditflow_client.verl import assign_batch

        batch, non_tensor = make_batch()
        assign_batch(batch, non_tensor, method=method, config=config, client=self.client, weights=weights)
        expected = cli_assign(method, rows_by_hand(batch, non_tensor["uid"]), config)
        return batch, expected

    def test_rows_are_the_contract_rows(self):
        from creditflow_client.verl import batch_rows

        batch, non_tensor = make_batch()
        _, rows = batch_rows(batch, non_tensor)
        self.assertEqual(rows, rows_by_hand(batch, non_tensor["uid"]))

    def test_methods_equal_cli(self):
        import numpy as np

        for method, config in [("grpo", None), ("gae", {"gamma": 0.9, "lambda": 0.8}), ("tempo", None), ("reinforce++", None)]:
            batch, expected = self.assign(method, config)
            np.testing.assert_allclose(batch["advantages"], expected_padded(expected), rtol=1e-6, atol=1e-7, err_msg=method)
            self.assertEqual(batch["advantages"].dtype, np.float32, "advantages take token_level_rewards' dtype")
            if "returns" in expected[0]:
                np.testing.assert_allclose(batch["returns"], expected_padded(expected, "returns"), rtol=1e-6, atol=1e-7, err_msg=method)

    def test_grpo_matches_verl_formula(self):
        import numpy as np

        batch, _ = self.assign("grpo")
        fresh, non_tensor = make_batch()
        scores = fresh["token_level_rewards"].astype(np.float64).sum(-1)
        expected = np.zeros_like(scores)
        for g in set(non_tensor["uid"]):
            members = non_tensor["uid"] == g
            s = scores[members]
            expected[members] = (s - s.mean()) / (s.std(ddof=1) + 1e-6)
        np.testing.assert_allclose(batch["advantages"], expected[:, None] * fresh["response_mask"], rtol=1e-6, atol=1e-7)

    def test_loss_weights(self):
        import numpy as np

        folded, expected = self.assign("d3s", weights="fold")
        self.assertIn("weights", expected[0])
        np.testing.assert_allclose(folded["advantages"], expected_padded(expected) * expected_padded(expected, "weights"), rtol=1e-6, atol=1e-7)
        batch, non_tensor = make_batch()
        batch["rollout_is_weights"] = np.full((len(LENGTHS), T), 0.5, dtype=np.float32)
        from creditflow_client.verl import assign_batch

        assign_batch(batch, non_tensor, method="d3s", client=self.client, weights="rollout_is_weights")
        w = expected_padded(expected, "weights")
        np.testing.assert_allclose(batch["rollout_is_weights"], 0.5 * np.where(np.arange(T)[None, :] < np.array(LENGTHS)[:, None], w, 1.0), rtol=1e-6)
        np.testing.assert_allclose(batch["advantages"], expected_padded(expected), rtol=1e-6, atol=1e-7)

    def test_signals_from_non_tensor_batch(self):
        import numpy as np

        from creditflow_client.verl import assign_batch

        batch, non_tensor = make_batch()
        planning = [[1 if t == 0 else 0 for t in range(n)] for n in LENGTHS]
        non_tensor["creditflow_signals"] = np.array([{"planning": p} for p in planning], dtype=object)
        assign_batch(batch, non_tensor, method="hicra", client=self.client)
        fresh, fresh_non_tensor = make_batch()
        rows = rows_by_hand(fresh, fresh_non_tensor["uid"])
        for row, p in zip(rows, planning):
            row["signals"] = {"planning": p}
        np.testing.assert_allclose(batch["advantages"], expected_padded(cli_assign("hicra", rows)), rtol=1e-6, atol=1e-7)

    def test_estimator_contract(self):
        # verl calls a registered estimator with token_level_rewards, response_mask, index and config only.
        import numpy as np

        from creditflow_client.verl import make_estimator

        batch, non_tensor = make_batch()
        fn = make_estimator("rloo", client=self.client)
        adv, ret = fn(token_level_rewards=batch["token_level_rewards"], response_mask=batch["response_mask"], index=non_tensor["uid"], config=None)
        self.assertEqual(adv.shape, (len(LENGTHS), T))
        scores = batch["token_level_rewards"].astype(np.float64).sum(-1)
        expected = np.zeros_like(scores)
        for g in set(non_tensor["uid"]):
            members = non_tensor["uid"] == g
            s = scores[members]
            expected[members] = s - (s.sum() - s) / (len(s) - 1)  # leave-one-out baseline
        np.testing.assert_allclose(adv, expected[:, None] * batch["response_mask"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ret, adv, rtol=1e-6)

    def test_torch_batch(self):
        require("torch")
        import torch

        from creditflow_client.verl import assign_batch

        batch, non_tensor = make_batch()
        expected = cli_assign("grpo", rows_by_hand(batch, non_tensor["uid"]))
        tbatch = {k: torch.from_numpy(v) for k, v in batch.items()}
        assign_batch(tbatch, non_tensor, method="grpo", client=self.client)
        self.assertIsInstance(tbatch["advantages"], torch.Tensor)
        self.assertEqual(tbatch["advantages"].dtype, torch.float32)
        torch.testing.assert_close(tbatch["advantages"], torch.tensor(expected_padded(expected), dtype=torch.float32))


class VerlColumnarTest(ServiceCase):
    """The same batches through the Arrow columnar path (numpy straight to Arrow columns)."""

    @classmethod
    def setUpClass(cls):
        require("pyarrow")
        super().setUpClass()
        if cls.serve is None:
            super().tearDownClass()
            raise unittest.SkipTest("SKIP: the columnar path needs `creditflow serve` (not built)")
        cls.client = CreditflowClient(cls.serve.url, encoding="arrow")
        assert cls.client.columnar

    assign = VerlBatchTest.assign
    test_methods_equal_cli = VerlBatchTest.test_methods_equal_cli
    test_loss_weights = VerlBatchTest.test_loss_weights
    test_signals_from_non_tensor_batch = VerlBatchTest.test_signals_from_non_tensor_batch
    test_torch_batch = VerlBatchTest.test_torch_batch

    def test_extra_fields_and_no_attention_mask(self):
        # step_ends per row from non_tensor_batch, and the span taken from mask and rewards (estimator-style batch).
        import numpy as np

        from creditflow_client.verl import assign_batch

        batch, non_tensor = make_batch()
        del batch["attention_mask"]
        non_tensor["creditflow_fields"] = np.array([{"step_ends": [n - 1]} for n in LENGTHS], dtype=object)
        assign_batch(batch, non_tensor, method="spo-tree", client=self.client)
        fresh, fresh_non_tensor = make_batch()
        rows = rows_by_hand(fresh, fresh_non_tensor["uid"])
        for row, n in zip(rows, LENGTHS):
            row["step_ends"] = [n - 1]
        np.testing.assert_allclose(batch["advantages"], expected_padded(cli_assign("spo-tree", rows)), rtol=1e-6, atol=1e-7)

    def test_nan_names_field_and_row(self):
        import numpy as np

        from creditflow_client import CreditflowInputError
        from creditflow_client.verl import assign_batch

        batch, non_tensor = make_batch()
        batch["values"][3, 1] = np.nan
        with self.assertRaises(CreditflowInputError) as ctx:
            assign_batch(batch, non_tensor, method="gae", client=self.client)
        self.assertEqual((ctx.exception.field, ctx.exception.line), ("values", 4))


def fake_verl():
    """Modules named as verl's, with its registry semantics and compute_advantage signature, so the
    lazy-import hooks (register_adv_est, the compute_advantage patch, the trainer mixin) run for real."""
    registry = {}

    def register_adv_est(name):
        def decorator(fn):
            if name in registry and registry[name] is not fn:
                raise ValueError(f"Adv estimator {name} has already been registered")
            registry[name] = fn
            return fn

        return decorator

    calls = []

    def compute_advantage(data, adv_estimator, gamma=1.0, lam=1.0, num_repeat=1, norm_adv_by_std_in_grpo=True, config=None):
        calls.append(adv_estimator)
        data.batch["advantages"] = "verl's own"
        return data

    modules = {name: types.ModuleType(name) for name in ("verl", "verl.trainer", "verl.trainer.ppo", "verl.trainer.ppo.core_algos", "verl.trainer.ppo.ray_trainer")}
    modules["verl.trainer.ppo.core_algos"].register_adv_est = register_adv_est
    modules["verl.trainer.ppo.ray_trainer"].compute_advantage = compute_advantage
    return modules, registry, calls


class VerlHooksTest(unittest.TestCase):
    def setUp(self):
        require("numpy")
        self.modules, self.registry, self.calls = fake_verl()
        self.saved = {k: sys.modules.get(k) for k in self.modules}
        sys.modules.update(self.modules)

    def tearDown(self):
        for k, v in self.saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v

    def test_register_is_idempotent(self):
        from creditflow_client import verl

        verl._registered.clear()
        fn = verl.register_estimator("creditflow-test", method="grpo", client=CreditflowClient(command=CLI))
        self.assertIs(self.registry["creditflow-test"], fn)
        self.assertIs(verl.register_estimator("creditflow-test"), fn)

    def test_plugin_module_registers_and_patches(self):
        # What `import verl` does with VERL_USE_EXTERNAL_MODULES=creditflow_client.verl_plugin or the entry point.
        import importlib

        from creditflow_client import verl

        verl._registered.clear()
        sys.modules.pop("creditflow_client.verl_plugin", None)
        plugin = importlib.import_module("creditflow_client.verl_plugin")
        self.assertIs(self.registry["creditflow"], plugin.estimator)
        ray_trainer = self.modules["verl.trainer.ppo.ray_trainer"]
        self.assertTrue(hasattr(ray_trainer.compute_advantage, "creditflow_original"))
        other = types.SimpleNamespace(batch={}, non_tensor_batch={})
        ray_trainer.compute_advantage(other, adv_estimator="gae")
        self.assertEqual((other.batch["advantages"], self.calls), ("verl's own", ["gae"]))
        sys.modules.pop("creditflow_client.verl_plugin", None)

    def test_patch_routes_creditflow_estimators_and_restores(self):
        from creditflow_client.verl import CreditflowRayPPOTrainerMixin, install_compute_advantage

        ray_trainer = self.modules["verl.trainer.ppo.ray_trainer"]
        original = ray_trainer.compute_advantage
        client = CreditflowClient(command=CLI)
        test = self

        class Base:
            def fit(self):
                batch, non_tensor = make_batch()
                data = types.SimpleNamespace(batch=batch, non_tensor_batch=non_tensor)
                ray_trainer.compute_advantage(data, adv_estimator="creditflow:rloo")
                test.assertEqual(data.batch["advantages"].shape, (len(LENGTHS), T))
                other = types.SimpleNamespace(batch={}, non_tensor_batch={})
                ray_trainer.compute_advantage(other, adv_estimator="grpo")
                test.assertEqual(other.batch["advantages"], "verl's own")
                return "fitted"

        class Trainer(CreditflowRayPPOTrainerMixin, Base):
            creditflow_client = client

        self.assertEqual(Trainer().fit(), "fitted")
        self.assertEqual(self.calls, ["grpo"])
        self.assertIs(ray_trainer.compute_advantage, original, "fit() restores verl's function")
        self.assertEqual(install_compute_advantage(method="grpo", client=client), ["verl.trainer.ppo.ray_trainer"])
        install_compute_advantage(method="grpo", client=client)  # twice: still wraps verl's own, not itself
        self.assertIs(ray_trainer.compute_advantage.creditflow_original, original)


if __name__ == "__main__":
    unittest.main()
