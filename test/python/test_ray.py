"""Ray: a task pool on a local Ray instance sends shards of one batch to two `creditflow serve`
replicas; the merged advantages equal one `creditflow assign` process on the whole batch."""

from __future__ import annotations

import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import Serve, assert_rows_close, cli_assign, require  # noqa: E402

PACKAGE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "integrations", "python"))


def make_batch(groups=48, n=4, seed=11):
    rng = random.Random(seed)
    rows = []
    for g in range(groups):
        stem = [rng.randrange(3, 40) for _ in range(rng.randrange(1, 6))]  # shared prefix: tempo's trees branch after it
        for k in range(n):
            tail = [rng.randrange(3, 40) for _ in range(rng.randrange(1, 30))]
            rows.append({"id": f"g{g}-{k}", "group": f"g{g}", "tokens": stem + tail, "reward": float(rng.random() < 0.5)})
    return rows


class RayReplicasTest(unittest.TestCase):
    def test_two_replicas_equal_one_process(self):
        require("ray")
        import ray

        from creditflow_client import CreditflowClient
        from creditflow_client.sharding import check_shardable, merge_shards, split_by_group

        rows = make_batch()
        with Serve() as first, Serve() as second:
            urls = [first.url, second.url]
            methods = CreditflowClient(urls[0]).methods()
            with self.assertRaises(ValueError):
                check_shardable("reinforce++", methods)  # batch whitening: shards would change the answer

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            try:

                @ray.remote(num_cpus=1)
                def assign_shard(url, method, config, shard_rows, package_dir):
                    import sys as worker_sys

                    if package_dir not in worker_sys.path:
                        worker_sys.path.insert(0, package_dir)
                    from creditflow_client import CreditflowClient as WorkerClient

                    return url, WorkerClient(url).assign(method, shard_rows, config)

                for method, config in [("grpo", None), ("tempo", {"tdWeight": 0.5})]:
                    check_shardable(method, methods)
                    shards = split_by_group(rows, 6)
                    self.assertEqual(len(shards), 6)
                    futures = [
                        assign_shard.remote(urls[s % 2], method, config, [rows[k] for k in idx], PACKAGE_DIR)
                        for s, idx in enumerate(shards)
                    ]
                    results = ray.get(futures, timeout=120)
                    self.assertEqual({url for url, _ in results}, set(urls), "both replicas answered")
                    merged = merge_shards(shards, [answer for _, answer in results], len(rows))
                    assert_rows_close(self, merged, cli_assign(method, rows, config), tol=0)
            finally:
                ray.shutdown()

    def test_split_keeps_groups_whole(self):
        from creditflow_client.sharding import merge_shards, split_by_group

        rows = make_batch(groups=10)
        shards = split_by_group(rows, 3)
        self.assertEqual(sorted(k for s in shards for k in s), list(range(len(rows))))
        owner = {}
        for s, idx in enumerate(shards):
            for k in idx:
                self.assertEqual(owner.setdefault(rows[k]["group"], s), s, "a group lies in one shard")
        echo = [[{"id": rows[k]["id"]} for k in idx] for idx in shards]
        self.assertEqual([r["id"] for r in merge_shards(shards, echo, len(rows))], [r["id"] for r in rows])


if __name__ == "__main__":
    unittest.main()
