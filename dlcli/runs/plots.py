"""Training curves as PNG, train against val, one figure per metric (per output)."""

from __future__ import annotations

from pathlib import Path

from dlcli.runs.rundir import atomic_write


def training_curves(history: dict[str, list[float]], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    written = []
    for key in sorted(k for k in history if not k.startswith("val_") and k != "learning_rate"):
        fig, ax = plt.subplots(figsize=(6, 4))
        epochs = range(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], label=f"train {key}")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label=f"val {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
        ax.grid(alpha=0.3)
        path = out_dir / f"{key}.png"
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
        plt.close(fig)
        written.append(path)
    return written
