"""verl's padded loop estimators, written here in torch (CPU, one thread) from their published
formulas and loop structure, timed on the same-shaped batch as `bench/verl.ts`.

Reads a JSON job on stdin: {"T": .., "reps": .., "rows": [{"group", "reward", "mask", "values"}]}
and prints {"grpo": ms, "rloo": ms, "gae": ms, "reinforce++": ms} (minimum over reps)."""
import json
import sys
import time
from collections import defaultdict

import torch

torch.set_num_threads(1)


def masked_whiten(x, mask, eps=1e-8):
    mean = (x * mask).sum() / mask.sum()
    var = (((x - mean) ** 2) * mask).sum() / (mask.sum() - 1)
    return (x - mean) * torch.rsqrt(var + eps)


def grpo(r, mask, index, eps=1e-6):
    scores = r.sum(-1)
    groups = defaultdict(list)
    for i in range(scores.shape[0]):
        groups[index[i]].append(scores[i])
    mean, std = {}, {}
    for g, s in groups.items():
        t = torch.stack(s)
        mean[g] = torch.tensor(0.0) if len(s) == 1 else t.mean()
        std[g] = torch.tensor(1.0) if len(s) == 1 else t.std()
    for i in range(scores.shape[0]):
        scores[i] = (scores[i] - mean[index[i]]) / (std[index[i]] + eps)
    return scores.unsqueeze(-1) * mask


def rloo(r, mask, index):
    scores = r.sum(-1)
    groups = defaultdict(list)
    for i in range(scores.shape[0]):
        groups[index[i]].append(scores[i])
    mean = {g: torch.stack(s).mean() for g, s in groups.items()}
    for i in range(scores.shape[0]):
        n = len(groups[index[i]])
        if n > 1:
            scores[i] = scores[i] * n / (n - 1) - mean[index[i]] * n / (n - 1)
    return scores.unsqueeze(-1) * mask


def gae(r, values, mask, gamma=1.0, lam=1.0):
    nextvalues = 0
    lastgaelam = 0
    out = []
    for t in reversed(range(r.shape[1])):
        delta = r[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam_ = delta + gamma * lam * lastgaelam
        nextvalues = values[:, t] * mask[:, t] + (1 - mask[:, t]) * nextvalues
        lastgaelam = lastgaelam_ * mask[:, t] + (1 - mask[:, t]) * lastgaelam
        out.append(lastgaelam)
    adv = torch.stack(out[::-1], dim=1)
    returns = adv + values
    return masked_whiten(adv, mask) * mask, returns


def reinforce_pp(r, mask, gamma=1.0):
    returns = torch.zeros_like(r)
    running = 0
    for t in reversed(range(r.shape[1])):
        running = r[:, t] + gamma * running
        returns[:, t] = running
        running = running * mask[:, t]
    return masked_whiten(returns, mask) * mask, returns


def main():
    job = json.load(sys.stdin)
    T, reps, rows = job["T"], job["reps"], job["rows"]
    n = len(rows)
    mask = torch.zeros(n, T, dtype=torch.float32)
    values = torch.zeros(n, T, dtype=torch.float32)
    r = torch.zeros(n, T, dtype=torch.float32)
    index = [row["group"] for row in rows]
    for i, row in enumerate(rows):
        m = row["mask"]
        mask[i, : len(m)] = torch.tensor(m, dtype=torch.float32)
        values[i, : len(m)] = torch.tensor(row["values"], dtype=torch.float32)
        last = max(k for k, x in enumerate(m) if x) if any(m) else len(m) - 1
        r[i, last] = row["reward"]
    cases = {
        "grpo": lambda: grpo(r.clone(), mask, index),
        "rloo": lambda: rloo(r.clone(), mask, index),
        "gae": lambda: gae(r, values, mask),
        "reinforce++": lambda: reinforce_pp(r, mask),
    }
    out = {}
    for name, fn in cases.items():
        fn()
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        out[name] = best * 1000
    print(json.dumps(out))


main()
