"""Reference timings in numpy for the standard estimators, on the benchmark batch.

Reads the packed batch the TypeScript benchmark wrote (raw little-endian arrays), computes each
estimator the way a numpy user would (group statistics with bincount; token-level returns and GAE
with verl's reversed-t loop over a padded [bs, T] array, vectorised over the batch), checks the
result against the TypeScript output, and prints {"name": {"ms": median, "maxAbsDiff": d}} as JSON.
"""
import json
import sys
import time

import numpy as np

d = sys.argv[1]
meta = json.load(open(f"{d}/meta.json"))
n, T, reps = meta["n"], meta["T"], meta["reps"]
group = np.fromfile(f"{d}/group.i32", dtype=np.int32)
reward = np.fromfile(f"{d}/reward.f64")
mask = np.fromfile(f"{d}/mask.u8", dtype=np.uint8).astype(np.float64).reshape(n, T)
values = np.fromfile(f"{d}/values.f64").reshape(n, T)
G = int(group.max()) + 1


def token_rewards():
    # outcome reward on the last mask-1 token
    r = np.zeros((n, T))
    last = T - 1 - np.argmax(mask[:, ::-1] > 0, axis=1)
    has = mask.sum(1) > 0
    r[np.arange(n)[has], last[has]] = reward[has]
    return r


# verl's input: token-level rewards [bs, T] with the outcome on the last mask-1 token, built
# outside the timed region (the trainer hands them over); outcome methods sum them per row.
TLR = token_rewards()


def scores_of():
    return TLR.sum(1)


def group_mean_std(s):
    cnt = np.bincount(group, minlength=G).astype(np.float64)
    mean = np.bincount(group, weights=s, minlength=G) / cnt
    dev = s - mean[group]
    var = np.bincount(group, weights=dev * dev, minlength=G) / np.maximum(cnt - 1, 1)
    single = cnt == 1
    mean[single] = 0.0
    std = np.sqrt(var)
    std[single] = 1.0
    return mean, std, cnt


def whiten(x, m):
    mu = (x * m).sum() / m.sum()
    var = (((x - mu) ** 2) * m).sum() / (m.sum() - 1)
    return (x - mu) / np.sqrt(var + 1e-8) * m


def grpo():
    s = scores_of()
    mean, std, _ = group_mean_std(s)
    return ((s - mean[group]) / (std[group] + 1e-6))[:, None] * mask


def dr_grpo():
    s = scores_of()
    mean, _, _ = group_mean_std(s)
    return (s - mean[group])[:, None] * mask


def rloo():
    s = scores_of()
    mean, _, cnt = group_mean_std(s)
    c = cnt[group]
    a = np.where(c > 1, (s - mean[group]) * c / np.maximum(c - 1, 1), s)
    return a[:, None] * mask


def opo():
    s = scores_of()
    ln = mask.sum(1)
    num = np.bincount(group, weights=ln * s, minlength=G)
    den = np.bincount(group, weights=ln, minlength=G)
    cnt = np.bincount(group, minlength=G)
    b = np.where((cnt > 1) & (den > 0), num / np.maximum(den, 1e-300), 0.0)
    return (s - b[group])[:, None] * mask


def gpg():
    s = scores_of()
    mean, _, _ = group_mean_std(s)
    alpha = n / max(1, np.count_nonzero(s))
    return (alpha * (s - mean[group]))[:, None] * mask


def grpo_passk():
    s = scores_of()
    _, std, _ = group_mean_std(s)
    order = np.lexsort((np.arange(n), -s, group))  # by group, score desc, index asc
    first = np.ones(n, dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    best = order[first]
    second = order[np.roll(first, 1)]
    a = np.zeros(n)
    a[best] = (s[best] - s[second]) / (std[group[best]] + 1e-6)
    return a[:, None] * mask


def rf_baseline():
    return whiten(dr_grpo(), mask)


def rf_pp():
    r = TLR
    ret = np.zeros((n, T))
    running = np.zeros(n)
    for t in range(T - 1, -1, -1):
        m = mask[:, t]
        running = np.where(m > 0, r[:, t] + running, running)
        ret[:, t] = running * m
    return whiten(ret, mask)


def gae():
    r = TLR
    adv = np.zeros((n, T))
    nextv = np.zeros(n)
    last = np.zeros(n)
    for t in range(T - 1, -1, -1):
        m = mask[:, t]
        delta = r[:, t] + nextv - values[:, t]
        lg = delta + last
        nextv = values[:, t] * m + (1 - m) * nextv
        last = lg * m + (1 - m) * last
        adv[:, t] = last
    return whiten(adv, mask)


FNS = {"grpo": grpo, "dr-grpo": dr_grpo, "rloo": rloo, "reinforce++": rf_pp, "reinforce++-baseline": rf_baseline,
       "gae": gae, "opo": opo, "grpo-passk": grpo_passk, "gpg": gpg}
out = {}
for name, fn in FNS.items():
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a = fn()
        times.append((time.perf_counter() - t0) * 1000)
    ts = np.fromfile(f"{d}/adv-{name}.f64").reshape(n, T)
    out[name] = {"ms": float(np.median(times)), "maxAbsDiff": float(np.abs(ts - a).max())}
print(json.dumps(out))
