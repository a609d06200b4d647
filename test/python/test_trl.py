"""A real TRL GRPOTrainer, two steps, with CreditflowGRPOTrainer's per-token advantages.

Tiny Llama from a config (hidden 32, 2 layers) and a character-level tokenizer built here:
nothing is downloaded. Checks, at every generation: the advantages TRL's loss receives are (B, T),
equal `creditflow assign` on the same completions (run separately through the CLI), are 0 on
padding; and with grpo at TRL's own eps they equal TRL's per-sequence advantage on every token.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import CLI, cli_assign, require  # noqa: E402

VOCAB_CHARS = list("abcdefghijklmnopqrstuvwxyz ")


def build_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<bos>", "<eos>"]
    vocab = {tok: i for i, tok in enumerate(specials + VOCAB_CHARS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>")


def char_score(completions, **kwargs):
    # A deterministic toy reward that differs between samples (an untrained model's groups need variance).
    return [float(sum(ord(ch) for ch in c) % 7) for c in completions]


class TrlGrpoTest(unittest.TestCase):
    def setUp(self):
        for module in ("torch", "trl", "transformers", "tokenizers", "datasets"):
            require(module)

    def make_trainer(self, method, config, out_dir):
        import torch
        from datasets import Dataset
        from transformers import LlamaConfig, LlamaForCausalLM
        from trl import GRPOConfig

        from creditflow_client import CreditflowClient
        from creditflow_client.trl import CreditflowGRPOTrainer

        torch.manual_seed(0)
        tokenizer = build_tokenizer()
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=2,
                max_position_embeddings=64,
                pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        )
        dataset = Dataset.from_dict({"prompt": ["say a", "say b", "say c", "say d"]})
        args = GRPOConfig(
            output_dir=out_dir,
            per_device_train_batch_size=8,
            num_generations=4,
            max_completion_length=6,
            max_steps=2,
            learning_rate=1e-2,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=0,
            temperature=1.0,
            disable_tqdm=True,
        )
        trainer = CreditflowGRPOTrainer(
            model=model,
            reward_funcs=char_score,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            credit_method=method,
            credit_config=config,
            credit_client=CreditflowClient(command=CLI),
        )
        seen = []
        original = trainer._generate_and_score_completions

        def spy(inputs):
            out = original(inputs)
            seen.append((out, dict(trainer.last_credit)))
            return out

        trainer._generate_and_score_completions = spy
        return trainer, seen, model

    def check_against_cli(self, method, config, out, credit):
        import torch

        ids, mask, adv = out["completion_ids"], out["completion_mask"], out["advantages"]
        self.assertEqual(tuple(adv.shape), tuple(ids.shape), "per-token advantages (B, T)")
        self.assertTrue(torch.all(adv[mask == 0] == 0), "0 on padding")
        # Rebuild the rows from TRL's own output (not from what the trainer sent) and ask the CLI.
        rewards = credit["rewards"].tolist()
        rows = []
        for b in range(ids.shape[0]):
            n = int(mask[b].sum())
            rows.append({"id": str(b), "group": str(b // 4), "tokens": ids[b, :n].tolist(), "reward": rewards[b]})
        expected = cli_assign(method, rows, config)
        for b, row in enumerate(expected):
            n = len(row["advantages"])
            got = adv[b, :n].tolist()
            for x, y in zip(got, row["advantages"]):
                self.assertAlmostEqual(x, y, delta=1e-6 + 1e-6 * abs(y))
        return expected

    def test_two_steps_grpo_matches_cli_and_trl(self):
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            trainer, seen, model = self.make_trainer("grpo", {"eps": 1e-4}, tmp)
            before = [p.detach().clone() for p in model.parameters()]
            with contextlib.redirect_stdout(io.StringIO()):
                trainer.train()
            self.assertEqual(len(seen), 2, "two generations for two steps")
            for out, credit in seen:
                self.check_against_cli("grpo", {"eps": 1e-4}, out, credit)
                self.assertGreater(float(out["advantages"].abs().sum()), 0.0, "rewards vary inside some group")
                # TRL's own GRPO advantage (s - mean) / (std + 1e-4), unbiased std, on every completion token.
                trl_adv = credit["trl_advantages"]
                mask = out["completion_mask"]
                broadcast = trl_adv.unsqueeze(1) * mask
                self.assertTrue(torch.allclose(out["advantages"], broadcast.float(), atol=1e-5), f"{out['advantages']} vs {broadcast}")
            self.assertTrue(any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "parameters changed")
            losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
            self.assertEqual(len(losses), 2)

    def test_token_varying_method(self):
        # reinforce++ with gamma < 1: advantages differ along the completion, which TRL's base trainer cannot express.
        with tempfile.TemporaryDirectory() as tmp:
            trainer, seen, _ = self.make_trainer("reinforce++", {"gamma": 0.5}, tmp)
            with contextlib.redirect_stdout(io.StringIO()):
                trainer.train()
            varying = False
            for out, credit in seen:
                expected = self.check_against_cli("reinforce++", {"gamma": 0.5}, out, credit)
                varying = varying or any(len(set(r["advantages"])) > 1 for r in expected)
            self.assertTrue(varying, "some completion has advantages that vary by token")


if __name__ == "__main__":
    unittest.main()
