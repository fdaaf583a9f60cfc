"""A --input file whose target column was renamed gets the did-you-mean a renamed feature column gets."""

import numpy as np
import pandas as pd


def test_a_renamed_target_column_gets_a_did_you_mean(digits, cli, tmp_path):
    frame = pd.DataFrame(np.zeros((3, 65)), columns=[f"pixel_{i // 8}_{i % 8}" for i in range(64)] + ["Target"])
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    code, _, err = cli("evaluate", digits, "--input", tmp_path / "renamed.csv")
    assert code == 2 and "renamed.csv has no targets for predictions" in err
    assert "for 'target', did you mean 'Target'?" in " ".join(err.split())
    np.savez(tmp_path / "renamed.npz", x=np.zeros((3, 64)), Y=np.zeros(3))  # an .npz's arrays by their names
    code, _, err = cli("evaluate", digits, "--input", tmp_path / "renamed.npz")
    assert code == 2 and "for 'y', did you mean 'Y'?" in " ".join(err.split())
    frame.rename(columns={"Target": "label"}).to_csv(tmp_path / "unlabelled.csv", index=False)
    code, _, err = cli("evaluate", digits, "--input", tmp_path / "unlabelled.csv")
    assert code == 2 and "did you mean" not in err and "dlcli predict" in " ".join(err.split())
