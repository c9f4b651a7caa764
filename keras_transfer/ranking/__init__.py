"""keras_transfer.ranking: which pretrained backbone to fine-tune, without fine-tuning.

- `rank_backbones`: one feature extraction per candidate, then
  cross-validated kNN and linear-probe accuracy, LogME, H-score and the
  known ImageNet top-1; time and feature size per candidate; a
  recommendation with the rule used. `keras-transfer rank` runs it on a
  folder of class subfolders.
- `RankingResult`: its table, recommendation and features.
"""

from keras_transfer.ranking._rank_backbones import rank_backbones
from keras_transfer.ranking.ranking_result import RankingResult
