"""A --input file whose target column was renamed gets the did-you-mean a renamed feature column gets."""

import numpy as np
import pandas as pd


def test_a_renamed_target_column_gets_a_did_you_mean(digits, tmp_path):
    from dlcli.data import sources
    from dlcli.runs.load import open_run

    run = open_run(digits)
    trained = (run.preprocess.get("state") or {}).get("columns")
    frame = pd.DataFrame(np.zeros((3, 65)), columns=[f"pixel_{i // 8}_{i % 8}" for i in range(64)] + ["Target"])
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    hints = sources.target_hints(tmp_path / "renamed.csv", run.cfg.data, run.io, trained, ["predictions"])
    assert hints == ["for 'target', did you mean 'Target'?"]
    np.savez(tmp_path / "renamed.npz", x=np.zeros((3, 64)), Y=np.zeros(3))  # an .npz's arrays by their names
    assert sources.target_hints(tmp_path / "renamed.npz", run.cfg.data, run.io, trained, ["predictions"]) == [
        "for 'y', did you mean 'Y'?"
    ]
    frame.rename(columns={"Target": "label"}).to_csv(tmp_path / "unlabelled.csv", index=False)
    assert sources.target_hints(tmp_path / "unlabelled.csv", run.cfg.data, run.io, trained, ["predictions"]) == []
