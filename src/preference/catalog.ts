/**
 * The preference and distillation losses of src/preference as `creditflow methods` lists them:
 * name, grounding (the labels of methods.md), inputs, and where they run. The five whose credit is
 * a per-token quantity are also registered `assign` methods (cdpo, tgdpo, t-reg, aligndistil,
 * sstoken); these entries are the losses themselves.
 */
import type { MethodStatus } from "../core/registry.js";

export interface LossEntry {
  name: string;
  status: MethodStatus;
  summary: string;
  paper: string;
  inputs: string;
  /** Where it trains: `creditflow prefer --method`, `creditflow sft --method`, or the library only. */
  runs: string;
}

export const PREFERENCE_LOSSES: readonly LossEntry[] = [
  { name: "dpo", status: "standard", summary: "DPO: -log sigma(beta * (log-ratio chosen - log-ratio rejected))", paper: "Rafailov et al. NeurIPS 2023, arXiv 2305.18290", inputs: "policy and reference log-probs of both responses", runs: "prefer --method dpo" },
  { name: "ipo", status: "standard", summary: "IPO: (h - 1/(2 beta))^2 over token-mean log-ratios (TRL)", paper: "Azar et al. AISTATS 2024, arXiv 2310.12036", inputs: "policy and reference log-probs of both responses", runs: "prefer --method ipo" },
  { name: "tdpo1, tdpo2", status: "reference-code", summary: "TDPO: DPO margin minus the sequential forward-KL difference (TDPO2: stop-gradient on the chosen KL, weight alpha)", paper: "Zeng et al. ICML 2024, arXiv 2404.11999", inputs: "full-vocabulary policy and reference logits, tokens", runs: "prefer --method tdpo1|tdpo2" },
  { name: "tgdpo", status: "reference-code", summary: "TGDPO: per-token beta (1 +- alpha * DPO token reward)", paper: "Zhu et al. ICML 2025, arXiv 2506.14574", inputs: "policy, reference and DPO-model log-probs", runs: "prefer --method tgdpo; assign --method tgdpo" },
  { name: "cdpo", status: "reference-code", summary: "cDPO: critical-token weights from a positive/negative model contrast; per-position or sequence aggregation", paper: "Lin et al. ICML 2025, arXiv 2411.19943", inputs: "positive and negative model logits; policy and reference log-probs", runs: "prefer --method cdpo; assign --method cdpo" },
  { name: "t-reg", status: "secondary", summary: "T-REG: DPO + alpha w (token-reward regulariser) from contrastive-prompt self-rewards", paper: "Zhou et al. ACL 2025, arXiv 2412.02685 (paper notes only)", inputs: "policy/reference log-probs; evaluator log-probs under two prompts", runs: "prefer --method t-reg; assign --method t-reg" },
  { name: "aligndistil", status: "reference-code", summary: "AlignDistil: (beta/alpha_t) KL(student || DPO/reverse-DPO extrapolated teacher), alpha_t from their TVD", paper: "Zhang et al. ACL 2025, arXiv 2503.02832", inputs: "student, DPO and reverse-DPO logits", runs: "prefer --method aligndistil; assign --method aligndistil" },
  { name: "intro", status: "paper", summary: "InTRO: answer-conditioned correction factors clip(pi(z|x+y)/pi(z|x), 0, 200) on n candidate tokens", paper: "Zhu et al. AAAI 2026, arXiv 2511.09865", inputs: "candidate log-probs under the question and under question + answer", runs: "prefer --method intro" },
  { name: "int", status: "reference-code", summary: "InT: SFT on own prefix + intervention at the first error, correctness-filtered (objective SECONDARY)", paper: "Yang et al. ICLR 2026, arXiv 2601.14209", inputs: "failed attempts, interventions, a verifier", runs: "sft --method int" },
  { name: "sstoken", status: "reference-code", summary: "ssToken: SFT on the top rho tokens by history-relative loss gain and prompt attention", paper: "Qin et al. ICLR 2026, arXiv 2510.18250", inputs: "current and history per-token loss, last-layer prompt attention", runs: "sft --method sstoken; assign --method sstoken" },
  { name: "rmt", status: "secondary", summary: "RMT: token budget, triangular length reward, curriculum, GRPO on selected tokens + lambda NTP", paper: "Tian et al. ICLR 2026, arXiv 2509.24375 (notes and reviews only)", inputs: "rollout and token log-probs, match flags, reasoning lengths", runs: "prefer --method rmt (corpus: the task's demonstrations)" },
  { name: "laser-loss", status: "reference-code", summary: "LaSeR: balanced MSE of the last-token self-reward to the verifier reward, with its gradient", paper: "Yang et al. 2025; code RUCBM/LaSeR", inputs: "log-prob of the self-reward token, verifier rewards, truncation", runs: "prefer --method laser-loss (alone); with RL: train --method laser; assign --method laser" },
];
