"""Captions for face-set faces: discrete attributes from measured labels, then sentences.

:class:`Labeller`: one face's measures (:mod:`stylelab.datasets.faceset` columns) -> attribute
values; a NaN or uncertain measure (between two thresholds) is left out, never guessed.
:class:`CaptionComposer`: sentences from many templates and synonyms, drawn per (seed, epoch,
face); held-out templates and words (``split="heldout"``) never appear in training captions
and measure robustness. :func:`validation_sheet`: faces and their words, to check by eye.

Thresholds (:class:`Thresholds`), set on the label distributions of 13,500-15,500 faces of
``mobilestylegan-ffhq-psi1`` (percentiles quoted), then checked by eye on sheets of 30 faces
per attribute; "error" is wrong / looked at on those sheets.

* age (face-api.js): baby < 3, child 4-11, teenager 13-17, young 19-31, middle-aged 40-55,
  old >= 58 (median 28, 95th pct 58); gaps omitted. Decades (teens ... eighties) only 1.5
  years inside the decade. Error 3/30 (an 11- and a 12-year-old look older; a 63 looks 50).
* gender (face-api.js P(male)): man > 0.85, woman < 0.15 (39% each, 22% uncertain); boy /
  girl under 12, no gender for babies. Error 1/30.
* expression (face-api.js): the most probable of 7 when > 0.6 (happy 60%, neutral 27%, sad
  4%, surprised 1.3%, others < 1%). Error: neutral 0/4, happy 0/4, surprised 1/5, sad 2/4,
  angry 2/4, fearful 3/4, disgusted 4/5 (the rare classes are noisy).
* smile (dlib: lip corners above the lip line / IOD; median 0.056): smiling > 0.10 (top 28%,
  95% of them face-api happy), not smiling < 0.0 unless face-api happy > 0.6. Error 0/30.
* mouth (inner-lip gap / mouth width; median 0.11): open > 0.22 (top 15%; mostly toothy
  smiles), closed < 0.03 (25%). Error 0/30.
* eyes (eye aspect ratio; median 0.29): open > 0.24; narrowed 0.10-0.15 (2.4%, mostly smiles:
  as "closed" they were wrong 12/15); closed < 0.10 (0.25%). Error: open 0/10, narrowed 0/10,
  closed 11/34 (strong squints, dark glasses, looking down).
* head pose (degrees; :mod:`stylelab.faces.attributes`: yaw > 0 turns the face to the
  image's right = the subject's left). Left/right are the VIEWER's: yaw < -15 is "looking to
  the left" (towards the image's left), > 15 right (14% each); |yaw|, |pitch| < 5: facing
  the camera. Pitch > 10 up, < -10 down (4% each). Error: left, right, front 0/10 each, up
  3/15, down 1/15.
* hair (median RGB of the band above the forehead, HSV, H in degrees): only when it differs
  from both the skin (RGB distance > 0.17: bald heads) and the background (> 0.2: short crops
  show background there). black V < 0.2 (error 0/6); brown H < 60, S >= 0.2, 0.2 <= V < 0.5
  (1/6); blond 22 <= H < 48, 0.18 <= S < 0.5, V >= 0.55 (8/18: light brown, hats, grey);
  red/auburn H < 20 or >= 345, S > 0.5, 0.3 <= V < 0.75 (9/18: brown, red hats). Grey/white
  is not labelled: hats, skies and walls made 15/18 of its candidates wrong.
* background (luma of the top corners outside the head): light > 0.7 (19%), dark < 0.2
  (17%). Error 1/30.
* no skin tone: the cheek median mixes skin tone with lighting (a lit dark face and a dim
  pale one have the same luma), so such a label would often be wrong.
"""

from __future__ import annotations

import colorsys
import math
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXPRESSIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
DECADES = {1: "teens", 2: "twenties", 3: "thirties", 4: "forties", 5: "fifties", 6: "sixties",
           7: "seventies", 8: "eighties"}
VALUES = {"age": ("baby", "child", "teenager", "young", "middle-aged", "old"),  # per attribute
          "decade": tuple(DECADES.values()), "gender": ("man", "woman"), "expression": EXPRESSIONS,
          "smile": ("smiling", "not smiling"), "mouth": ("open", "closed"),
          "eyes": ("open", "narrowed", "closed"), "yaw": ("left", "right", "front"),
          "pitch": ("up", "down"), "hair": ("blond", "brown", "black", "red"),
          "background": ("light", "dark")}


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of :class:`Labeller` (reasons: module doc). Pairs are ``(above: the
    first value, below: the second)``; age bins are half-open ``[low, high)`` years."""

    age_bins: tuple[tuple[str, float, float], ...] = (
        ("baby", 0, 3), ("child", 4, 12), ("teenager", 13, 18), ("young", 19, 32),
        ("middle-aged", 40, 56), ("old", 58, 999))
    decade_margin: float = 1.5
    gender: tuple[float, float] = (0.85, 0.15)  # man, woman
    expression: float = 0.6
    smile: tuple[float, float] = (0.10, 0.0)  # smiling, not smiling
    mouth: tuple[float, float] = (0.22, 0.03)  # open, closed
    eyes: tuple[float, float, float] = (0.24, 0.15, 0.10)  # open, narrowed, closed
    pose: tuple[float, float, float] = (15.0, 10.0, 5.0)  # |yaw|, |pitch| turned; both < frontal
    hair_distance: tuple[float, float] = (0.17, 0.2)  # from the skin, from the background
    background: tuple[float, float] = (0.7, 0.2)  # light, dark


def _side(x: float, limits: tuple[float, ...], high: str, low: str) -> str | None:
    """``high`` when ``x > limits[0]``, ``low`` when ``x < limits[1]``, else (or NaN) None."""
    return high if x > limits[0] else low if x < limits[1] else None


class Labeller:
    """Measured labels of one face -> ``{attribute: value}`` (values: :data:`VALUES`)."""

    def __init__(self, thresholds: Thresholds | None = None):
        self.t = thresholds or Thresholds()

    def __call__(self, row: Mapping[str, float]) -> dict[str, str]:
        def v(key: str) -> float:
            x = row.get(key)
            return float(x) if x is not None and math.isfinite(float(x)) else math.nan

        t, age, out = self.t, v("age"), {}
        out["age"] = next((w for w, lo, hi in t.age_bins if lo <= age < hi), None)
        decade = 1 if 13 <= age < 20 else int(age // 10) if age >= 20 else 0
        lo, hi = (13, 20) if decade == 1 else (10 * decade, 10 * decade + 10)
        if decade in DECADES and min(age - lo, hi - age) >= t.decade_margin:
            out["decade"] = DECADES[decade]
        if out["age"] != "baby":
            out["gender"] = _side(v("gender"), t.gender, "man", "woman")
        probs = [v(e) for e in EXPRESSIONS]
        if max(probs) > t.expression:  # NaN compares False
            out["expression"] = EXPRESSIONS[int(np.nanargmax(probs))]
        out["smile"] = _side(v("smile"), t.smile, "smiling", "not smiling")
        if out["smile"] == "not smiling" and v("happy") > t.expression:
            out["smile"] = None  # landmarks and face-api disagree: uncertain
        out["mouth"] = _side(v("mouth_open"), t.mouth, "open", "closed")
        eyes = v("eye_openness")
        out["eyes"] = "closed" if eyes < t.eyes[2] else _side(eyes, t.eyes, "open", "narrowed")
        yaw, pitch = v("yaw"), v("pitch")  # yaw < 0: towards the image's (viewer's) left
        out["yaw"] = _side(yaw, (t.pose[0], -t.pose[0]), "right", "left") or (
            "front" if max(abs(yaw), abs(pitch)) < t.pose[2] else None)
        out["pitch"] = _side(pitch, (t.pose[1], -t.pose[1]), "up", "down")
        out["hair"] = self.hair_colour(*([v(f"{r}_{c}") for c in "rgb"]
                                         for r in ("hair", "skin", "background")))
        out["background"] = _side(v("background_luma"), t.background, "light", "dark")
        return {k: x for k, x in out.items() if x is not None}

    def hair_colour(self, hair: list[float], skin: list[float], background: list[float]
                    ) -> str | None:
        """A hair colour word from median RGBs in [0, 1], or None (unclear: see module doc)."""
        if not all(map(math.isfinite, [*hair, *skin, *background])) or any(
                np.linalg.norm(np.subtract(hair, other)) <= limit
                for other, limit in zip((skin, background), self.t.hair_distance)):
            return None
        h, s, val = colorsys.rgb_to_hsv(*hair)
        h *= 360
        return ("black" if val < 0.2 else
                "red" if (h < 20 or h >= 345) and s > 0.5 and 0.3 <= val < 0.75 else
                "blond" if 22 <= h < 48 and 0.18 <= s < 0.5 and val >= 0.55 else
                "brown" if h < 60 and s >= 0.2 and 0.2 <= val < 0.5 else None)

    def label_all(self, labels: Mapping[str, np.ndarray]) -> list[dict[str, str]]:
        """One attribute dict per face of a face set's ``labels`` columns."""
        n = len(next(iter(labels.values())))
        return [self({k: col[i] for k, col in labels.items()}) for i in range(n)]


# Words: "kind attribute.value: seen | seen ... / held out", " ; " between entries. N noun,
# A adjective (before the noun), P phrase (after it; {p}: their/his/her); T, H: templates.
WORDS = """
N man: man | male | gentleman | guy / fellow ; N woman: woman | female | lady / gal
N boy: boy | little boy / lad ; N girl: girl | little girl / lass ; N baby: baby | toddler / infant
N -: person | face | individual | human / human being ; N child: child | kid / youngster
A age.teenager: teenage | adolescent / teen ; P age.teenager: who is a teenager / of high-school age
A age.young: young | youthful / twentysomething ; A age.middle-aged: middle-aged | mature / midlife
A age.old: old | aged | senior | older / elderly ; P age.old: of old age | who is old / who is elderly
A expression.neutral: neutral | expressionless | calm / impassive
P expression.neutral: with a neutral expression | with a blank expression / with a poker face
A expression.happy: happy | joyful | cheerful / delighted ; A expression.sad: sad | unhappy / sorrowful
A expression.angry: angry | furious | annoyed / irate ; A expression.disgusted: disgusted / repulsed
A expression.fearful: fearful | scared | afraid / frightened
A expression.surprised: surprised | astonished | amazed / startled
A smile.smiling: smiling | beaming / grinning
P smile.smiling: with a smile | who is smiling | with a big smile / with a grin
P smile.not smiling: not smiling | without a smile | with a straight face / who is unsmiling
P mouth.open: with an open mouth | with {p} mouth open | with the mouth open / with parted lips
P mouth.closed: with a closed mouth | with {p} mouth closed / with sealed lips
P eyes.closed: with closed eyes | with {p} eyes closed | blinking / with {p} eyes shut
P eyes.narrowed: squinting | with narrowed eyes / with half-closed eyes
P eyes.open: with open eyes | with {p} eyes open / with wide-awake eyes
P yaw.left: looking to the left | facing left | with {p} head turned left / gazing to the left
P yaw.right: looking to the right | facing right | with {p} head turned right / gazing to the right
P yaw.front: facing the camera | looking at the camera / looking straight ahead
P pitch.up: looking up | with {p} head tilted up / with {p} chin raised
P pitch.down: looking down | with {p} head tilted down / with {p} head bowed
P hair.blond: with blond hair | with blonde hair | with fair hair / with golden hair
P hair.brown: with brown hair | with brunette hair / with chestnut hair
P hair.black: with black hair | with dark hair / with jet-black hair
P hair.red: with red hair | with auburn hair / with ginger hair
P background.light: against a light background | on a white background | in front of a bright \
background / against a pale backdrop
P background.dark: against a dark background | on a black background | in front of a dim \
background / against a shadowy backdrop
T: a photo of {} | a portrait of {} | {} | a picture of {} | a close-up of {} | a headshot of {} \
| an image of {} | a photograph of {} | a close-up photo of {} | a good photo of {} \
| a photo of the face of {}
H: a snapshot showing {} | a cropped photo of {} | this picture shows {} | a high quality photo of {}
"""
_TABLE: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
for _entry in WORDS.strip().replace("\n", " ; ").split(" ; "):
    _head, _, _words = _entry.partition(": ")
    _seen, _, _held = _words.partition(" / ")
    _TABLE[tuple(_head.partition(" ")[::2])] = ([w.strip() for w in _seen.split("|")],
                                                [w.strip() for w in _held.split("|") if w])
for _d in DECADES.values():
    _TABLE[("P", f"decade.{_d}")] = ([f"in {{p}} {_d}"], [f"somewhere in {{p}} {_d}"])
for _e in EXPRESSIONS:  # phrase forms of the expression adjectives
    _a = _TABLE[("A", f"expression.{_e}")]
    _TABLE.setdefault(("P", f"expression.{_e}"), (
        [f"with {'an' if _e[0] in 'aeiou' else 'a'} {_e} expression", f"who looks {_a[0][0]}"],
        [f"who looks {_a[1][0]}"]))
TEMPLATES = (_TABLE[("T", "")][0], _TABLE[("H", "")][0])
#: how often an attribute present on a face goes into its caption (common ones less often)
KEEP = {"age": 0.7, "decade": 0.35, "gender": 0.9, "expression": 0.6, "smile": 0.6,
        "mouth": 0.5, "eyes": 0.4, "yaw": 0.7, "pitch": 0.7, "hair": 0.5, "background": 0.4}
RARE = {"closed", "narrowed", "sad", "angry", "fearful", "disgusted", "surprised"}  # kept at 0.9
SPLITS = ("train", "heldout")


class CaptionComposer:
    """Sentences from attribute dicts. ``split="train"``: the seen templates and words;
    ``"heldout"``: held-out templates, and held-out words wherever an attribute has one."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def caption(self, attrs: Mapping[str, str], index: int, epoch: int = 0,
                split: str = "train") -> str:
        """Face ``index``'s caption for ``epoch``: random, the same for the same arguments.
        Each attribute is kept with probability :data:`KEEP` (captions vary in length)."""
        rng = np.random.default_rng([self.seed, epoch, index, SPLITS.index(split)])
        keep = {k: v for k, v in attrs.items()
                if rng.random() < (0.9 if v in RARE and k != "mouth" else KEEP.get(k, 0.5))}
        if attrs.get("age") in ("baby", "child"):  # never "a woman" for a girl
            keep["age"] = attrs["age"]
        if keep.get("age") == "teenager":
            keep.pop("decade", None)
        return self.compose(keep, rng, split)

    def compose(self, attrs: Mapping[str, str], rng: np.random.Generator,
                split: str = "train") -> str:
        """One sentence describing exactly ``attrs`` (any subset of :data:`VALUES`)."""
        held = SPLITS.index(split)

        def choose(kind: str, key: str) -> str | None:
            opts = _TABLE.get((kind, key))
            return None if opts is None else str(rng.choice(opts[held] or opts[0]))

        age, gender = attrs.get("age"), attrs.get("gender")
        noun_key = {"man": "boy", "woman": "girl"}.get(gender or "", "child") if age == "child" \
            else "baby" if age == "baby" else gender or "-"
        noun, pron = choose("N", noun_key), {"man": "his", "woman": "her"}.get(gender, "their")
        pre, post = [], []
        for key, value in attrs.items():
            if key == "gender" or (key == "age" and noun_key in ("baby", "boy", "girl", "child")):
                continue
            adj, phrase = choose("A", f"{key}.{value}"), choose("P", f"{key}.{value}")
            if adj and (not phrase or rng.random() < 0.5):
                pre.append(adj)
            elif phrase:
                post.append(phrase.format(p=pron))
        rng.shuffle(post)
        subject = " ".join([*pre, noun])
        subject = ("an " if subject[0] in "aeiou" else "a ") + subject
        subject += (" " + ", ".join(post[:-1]) + " and" if len(post) > 1 else "") + \
            (" " + post[-1] if post else "")
        template = str(rng.choice(TEMPLATES[held]))
        return ("a photo of {}" if noun == "face" and "face" in template else template
                ).format(subject)

    def class_prompts(self, attribute: str, value: str, split: str = "train", draws: int = 48
                      ) -> list[str]:
        """Sentences naming one attribute value alone (a zero-shot class: average them)."""
        rng = np.random.default_rng([self.seed, 7919, SPLITS.index(split)])
        return sorted({self.compose({attribute: value}, rng, split) for _ in range(draws)})

    @staticmethod
    def vocabulary() -> list[str]:
        """Every word training captions can use (templates, nouns, adjectives, phrases)."""
        texts = ["a an their his her and", *(w.replace("{p}", "") for k, (seen, _) in
                                            _TABLE.items() if k[0] != "H" for w in seen)]
        return sorted(set(re.findall(r"[a-z]+(?:-[a-z]+)*", " ".join(texts).lower())))

    @staticmethod
    def heldout_phrases() -> list[str]:
        """The held-out templates' fixed text and the held-out words and phrases."""
        return sorted({*(t.replace("{}", "").strip() for t in TEMPLATES[1]),
                       *(u.format(p=p) for k, (_, unseen) in _TABLE.items() if k[0] != "H"
                         for u in unseen for p in ("their", "his", "her"))})


def validation_sheet(images: np.ndarray, attrs: list[dict], path: str | Path,
                     titles: list[str] | None = None, cols: int = 6, cell: int = 160) -> Path:
    """A PNG contact sheet: each face (``images``: (N, H, W, 3) uint8) over its attribute
    words (and ``titles``), so a person can check the labellers by eye."""
    from PIL import Image, ImageDraw

    sheet = Image.new("RGB", (cols * cell, -(-len(images) // cols) * (cell + 74)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (image, a) in enumerate(zip(images, attrs, strict=True)):
        x, y = (i % cols) * cell, (i // cols) * (cell + 74)  # 74 px: six lines of words
        sheet.paste(Image.fromarray(image).resize((cell, cell)), (x, y))
        words = ([titles[i]] if titles else []) + [f"{k} {v}" if k in (
            "yaw", "pitch", "eyes", "mouth", "hair") else v for k, v in a.items()]
        for j, text in enumerate(textwrap.wrap(", ".join(words), cell // 6)[:6]):
            draw.text((x + 2, y + cell + 1 + 12 * j), text, fill="black")
    sheet.save(path)
    return Path(path)
