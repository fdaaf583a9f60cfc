"""Training curves as PNG, train against val, drawn without a display (matplotlib's Agg).

One figure per metric (`loss.png`, `accuracy.png`, `learning_rate.png` when a
schedule logs it); a multi-output model gets one figure per output instead,
with a panel for each of that output's loss and metrics (`<output>.png`),
beside the total `loss.png`.
"""

from __future__ import annotations

from pathlib import Path

from dlcli.runs.rundir import atomic_write


def _figures(keys: list[str], outputs: list[str]) -> dict[str, list[str]]:
    """Figure name -> the history keys it shows."""
    prefixes = sorted(outputs, key=len, reverse=True) if len(outputs) > 1 else []
    figures: dict[str, list[str]] = {}
    for key in keys:
        owner = next((o for o in prefixes if key.startswith(o + "_")), None)
        figures.setdefault(owner or key, []).append(key)
    return figures


def training_curves(history: dict[str, list[float]], out_dir: Path, outputs: list[str] = ()) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    written = []
    keys = [k for k in history if not k.startswith("val_")]
    for name, members in _figures(keys, list(outputs)).items():
        fig, axes = plt.subplots(1, len(members), figsize=(5 * len(members), 4), squeeze=False)
        # Fixed margins that fit the tick labels: tight_layout measured every text first, a third of the time.
        fig.subplots_adjust(left=0.7 / (5 * len(members)), right=0.97, bottom=0.13, top=0.91, wspace=0.28)
        for ax, key in zip(axes[0], members):
            epochs = range(1, len(history[key]) + 1)
            ax.plot(epochs, history[key], label="train")
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], label="val")
            ax.set_title(f"{name}: {key.removeprefix(name + '_')}" if key != name else key)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            ax.legend()
            ax.grid(alpha=0.3)
        path = out_dir / f"{name}.png"
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
        plt.close(fig)
        written.append(path)
    return written
