"""keras_transfer.adaptation: label-free domain adaptation in ordinary `fit()`.

- `adapt_batchnorm` (AdaBN: exact target BatchNorm statistics) and `AdaBNReport`.
- `Tent`: entropy minimisation training only BatchNorm affine parameters.
- `GradientReversal`, `build_dann`, `dann_data`: domain-adversarial training (DANN).
- `label_free_score`: compare adapted models without target labels.
"""

from keras_transfer.adaptation._adapt_batchnorm import adapt_batchnorm
from keras_transfer.adaptation._build_dann import build_dann
from keras_transfer.adaptation._dann_data import dann_data
from keras_transfer.adaptation._label_free_score import label_free_score
from keras_transfer.adaptation.adabn_report import AdaBNReport
from keras_transfer.adaptation.gradient_reversal import GradientReversal
from keras_transfer.adaptation.tent import Tent
