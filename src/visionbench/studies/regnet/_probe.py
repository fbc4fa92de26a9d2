"""The Fig. 1(b) probe: how linearly separable are the classes in the outputs of blocks 7, 8 and 9?

For a trained run, each block's output map is average-pooled to one vector per image (its channels), and a
multinomial logistic regression (scikit-learn, standardised features) is fitted on the run's own training split and
scored on the test split. The paper probes ResNet-20 and RegNet-20 this way (its Fig. 1(b)).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.errors import RunError

__all__ = ["PROBE_BLOCKS", "linear_probes"]

#: The blocks the paper probes, numbered from 1 over the whole network (ResNet-20 has 9: 3 stages of 3).
PROBE_BLOCKS = (7, 8, 9)


def _session(run_dir: Path) -> Any:
    """The run's session (same data, split and normalisation) with its best weights loaded."""
    from visionbench.train.loop import load_run_session

    return load_run_session(run_dir)[1]


def _pooled_outputs(session: Any, split: Any, blocks: Sequence[int]) -> dict[int, np.ndarray]:
    """Block number -> (N, C) average-pooled outputs of that block over ``split``, in order."""
    import torch

    model = session.backend.model
    flat = [blk for stage in model.stages for blk in stage]
    if max(blocks) > len(flat):
        raise RunError(f"the probe needs block {max(blocks)} but {session.cfg.model} has {len(flat)} blocks")
    seen: dict[int, list[np.ndarray]] = {b: [] for b in blocks}

    def keep(b: int) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            out = output[0] if isinstance(output, tuple) else output  # a regulated block also returns its state
            seen[b].append(out.mean(dim=(2, 3)).float().cpu().numpy())  # (B, C)
        return hook

    handles = [flat[b - 1].register_forward_hook(keep(b)) for b in blocks]
    model.eval()
    try:
        with torch.no_grad():
            n, step = len(split), session.cfg.eval_batch_size
            for start in range(0, n, step):
                idx = np.arange(start, min(n, start + step))
                x, _ = session.batch(np.asarray(split.images[idx]), split.labels[idx])
                model(x.contiguous(memory_format=torch.channels_last))
    finally:
        for h in handles:
            h.remove()
    return {b: np.concatenate(v) for b, v in seen.items()}


def linear_probes(run_dir: str | Path, blocks: Sequence[int] = PROBE_BLOCKS) -> dict[int, float]:
    """Test accuracy (%) of a linear probe on each block's pooled output of the run's best weights.

    Args:
        run_dir: a completed run directory of a ResNet or RegNet.
        blocks: block numbers, counted from 1 over all stages.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    session = _session(Path(run_dir))
    train = _pooled_outputs(session, session.train, blocks)
    test = _pooled_outputs(session, session.dataset.test, blocks)
    out = {}
    for b in blocks:
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(train[b], session.train.labels)
        out[b] = 100.0 * float(probe.score(test[b], session.dataset.test.labels))
    return out
