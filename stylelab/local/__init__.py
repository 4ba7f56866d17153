"""Local (masked) editing in feature space: region masks, transplants, masked edits.

>>> mask = face_region_mask(G.synthesis(w, size=256), "mouth")
>>> out = transplant(G, w, w_reference, mask)        # the reference's mouth
>>> local_change(out.before, out.after, out.mask)     # inside vs outside
"""

from .blend import (
    LocalConfig,
    LocalResult,
    blend,
    masked_edit,
    pick_layer,
    stylespace_transplant,
    transplant,
)
from .masks import check_mask, face_region_mask, load_mask, region_mask, resize_mask
from .measures import gradient_magnitude, local_change, seam

__all__ = ["LocalConfig", "LocalResult", "blend", "check_mask", "face_region_mask",
           "gradient_magnitude", "load_mask", "local_change", "masked_edit", "pick_layer",
           "region_mask", "resize_mask", "seam", "stylespace_transplant", "transplant"]
