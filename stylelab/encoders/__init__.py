"""Image -> latent encoders for instant inversion: pSp, e4e and CLCAE styles.

>>> enc = load_encoder("mobilestylegan-ffhq/clcae")      # G loaded too, or pass G=
>>> out = enc.invert(images)        # images (N, 3, S, S) in [-1, 1]
>>> out.w, out.wplus, out.f         # (N, 512), (N, num_ws, 512), {"b2": (N, 512, 32, 32)}
>>> recon = render(enc.generator, out, size=256)
>>> f_hat = edit_features(enc.generator, out, wplus_edited)   # CLCAE's F edit

Pieces, one module each: :mod:`.pyramid` (backbone feature pyramid, EfficientNet-Lite0 with
ImageNet weights instead of IR-SE50), :mod:`.map2style` (pSp's latent heads),
:mod:`.align` (CLCAE's contrastive W-image alignment), :mod:`.attention` (the W+ and F
cross-attention blocks, as in the paper and non-degenerate), :mod:`.models` (the encoders),
:mod:`.losses` (the training objective), :mod:`.registry` (trained weights by name).
Training: ``training/train_alignment.py`` then ``training/train_encoder.py``.
"""

from .align import AlignmentConfig, ImageTower, LatentTower, WImageAligner, info_nce
from .attention import FCrossAttention, WPlusCrossAttention, multi_head_attention
from .losses import EncoderObjective
from .map2style import Map2Style, layer_groups
from .models import (
    KINDS,
    Encoder,
    EncoderConfig,
    EncoderOutput,
    edit_features,
    render,
    shift_features,
)
from .pyramid import FeaturePyramid, PyramidFeatures
from .registry import (
    EncoderMismatch,
    EncoderUnavailable,
    aligner_path,
    list_encoders,
    load_aligner,
    load_encoder,
    load_encoder_file,
    save_aligner,
    save_encoder,
)

__all__ = [
    "KINDS", "AlignmentConfig", "Encoder", "EncoderConfig", "EncoderMismatch",
    "EncoderObjective", "EncoderOutput", "EncoderUnavailable", "FCrossAttention",
    "FeaturePyramid", "ImageTower", "LatentTower", "Map2Style", "PyramidFeatures",
    "WImageAligner", "WPlusCrossAttention", "aligner_path", "edit_features", "info_nce",
    "layer_groups", "list_encoders", "load_aligner", "load_encoder", "load_encoder_file",
    "multi_head_attention", "render", "save_aligner", "save_encoder", "shift_features",
]
