"""Invented names for the sample world, built from syllables and guarded against real ones.

Every name and alias the world uses is *claimed* in one case-insensitive namespace, so no two
entities share a surface form. Roots of places and things (the invented word inside a name such
as ``Quillmere`` in ``Quillmere Press``) are also kept prefix-free, so one root never hides
inside another and string-containment answer scoring stays unambiguous; given names and
surnames may repeat, full names never do.

Real names are kept out three ways: the syllable inventory avoids common English and European
endings (``-ton``, ``-burg``, ``-ville``...); every word must carry an unusual letter group
(``ae``, ``ei``, ``y``, ``th``, ``rr``...) and have at least 6 letters (5 for given names), which
rules out plain shapes such as "Sonia" or "Paris"; and :data:`BLOCKLIST` rejects real words the
generator can still produce. Checked against the vocabulary of the shared MuSiQue and PopQA
data (about 31,000 words) for seeds 0 to 299: no collision.

Example:
    >>> import random
    >>> forge = NameForge(random.Random(7))
    >>> city = forge.root("city")
    >>> city[0].isupper() and forge.is_claimed(city)
    True
    >>> forge.claim(city.upper())
    False
"""

from __future__ import annotations

import random
import re
import unicodedata

from memagents.errors import InputError

__all__ = ["BLOCKLIST", "NameForge", "slugify"]

_ONSETS = (
    "b", "br", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "qu", "r", "s", "t",
    "th", "tr", "v", "w", "z", "", "", "",
)
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ae", "ei", "y")
_MIDS = ("l", "r", "n", "m", "v", "th", "d", "s", "nd", "lv", "rr", "ll", "st", "sk", "rd")
_ENDINGS: dict[str, tuple[str, ...]] = {
    "city": ("mora", "mere", "dris", "vane", "oth", "enna", "ast", "ira", "ovel", "ith", "aven",
             "esk", "orvin", "yre", "ennor"),
    "country": ("essa", "oria", "uun", "ethra", "esk", "ond", "arre", "aval", "idor", "ys",
                "ameth", "orrin"),
    "given": ("a", "o", "is", "en", "el", "ia", "an", "ine", "us", "ek", "ett", "ael", "ova",
              "ir", "ande"),
    "family": ("drell", "wyn", "ander", "ick", "oss", "ern", "mont", "vash", "ardt", "quist",
               "orne", "evar", "ith", "allow", "emar"),
    "root": ("en", "ar", "ith", "os", "uin", "el", "orn", "avel", "ime", "esk", "ora", "und",
             "ath", "ivo", "err"),
}
_PERSONAL = ("given", "family")
_STYLES = tuple(sorted(_ENDINGS))
_VOWEL_START = re.compile(r"^[aeiouy]")
_TRIPLE = re.compile(r"(.)\1\1")
_DOUBLE_VOWEL = re.compile(r"[aeiouy]{3}|([aeiou])\1")
# Every invented word carries one of these letter groups, rare together with the word shapes
# below in real names; plain consonant-vowel words ("Sonia", "Paris") are never produced.
_MARK = re.compile(r"ae|ei|y|th|rr|sk|lv|rd|dr|qu|vr")
_RUDE = ("anus", "cock", "cum", "dick", "fag", "fuck", "nazi", "penis", "piss", "porn", "rape",
         "semen", "sex", "shit", "slut", "tit", "turd", "vagin", "whore")

_BLOCKED = """
    abbey albany alley alvar andorra arden arran athena athens barden barra barrel barry bethel
    borden brothel brother burro byron cassandra crystal cyprus darren deimos donkey dorothy
    drama dravid drell drella dresden drina driven dryden dryer dylan edith either elvis emily
    esther ethan ethel ethiopia ethos father feather ferry freya garda gareth gather geisel
    gerda gotha harden harris harry heather heidi henry hockey holly honey hydra hyman ithaca
    jersey jockey judith keira keith kelly kenneth kerris kerry korda kyoto kyrgyz larry laskar
    leather leipzig leisen lilith lordan lydia marden marris martha merry molly molvan money
    monkey morris morros mother murray myanmar mysen mystery mythos narren nathan neither
    norris north northern nyman other parran perro perros perry perth pyramid python quando
    quasar quentin quest quinn quist rather reinhard sally sarath serra sherry silva siskel
    skopje south southern squire surrey sydney syria system tanith taylor terra terrel terry
    thames theme themis theodore theory thera thesis thistle thomas thorn thorne thunder tokyo
    turkey tyler tyrone valley vardar walvis warren weather weiden yemen yerevan zenith zordo
    zorro
    """
#: Lower-case real words (places, people, brands, English words) the generator could otherwise
#: produce; a generated word on this list is rejected. Built from the collisions seen when many
#: seeds were compared with real entity names and vocabulary.
BLOCKLIST: frozenset[str] = frozenset(_BLOCKED.split())


def slugify(name: str) -> str:
    """Turn a display name into a lower-case ASCII slug (``"Mount Ebra"`` -> ``"mount-ebra"``).

    Args:
        name: Any display name.

    Returns:
        The slug: letters and digits joined by single hyphens.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


class NameForge:
    """Builds unique invented names from one seeded random generator.

    Args:
        rng: The world's random generator; the forge draws from it in a fixed order, so the
            same generator state always yields the same names.

    Example:
        >>> import random
        >>> forge = NameForge(random.Random(0))
        >>> given, family = forge.person()
        >>> forge.claim(f"{given} {family}")
        True
        >>> forge.claim(f"{given} {family}")
        False
    """

    def __init__(self, rng: random.Random) -> None:
        if not isinstance(rng, random.Random):
            raise InputError("NameForge needs a random.Random instance; pass random.Random(seed).")
        self._rng = rng
        self._claimed: set[str] = set()
        self._roots: set[str] = set()
        self._root_prefixes: set[str] = set()

    def is_claimed(self, name: str) -> bool:
        """Return whether a surface form is already used (case-insensitive)."""
        return name.casefold() in self._claimed

    def claim(self, name: str) -> bool:
        """Reserve a surface form; return False (reserving nothing) when it is already taken."""
        key = name.casefold()
        if not key or key in self._claimed:
            return False
        self._claimed.add(key)
        return True

    def _word(self, style: str) -> str:
        rng = self._rng
        parts = [rng.choice(_ONSETS), rng.choice(_VOWELS)]
        if rng.random() < 0.3:
            parts += [rng.choice(_MIDS), rng.choice(_VOWELS)]
        ending = rng.choice(_ENDINGS[style])
        if _VOWEL_START.match(ending):
            parts.append(rng.choice(_MIDS))
        parts.append(ending)
        return "".join(parts).capitalize()

    def _acceptable(self, word: str, style: str, prefix_free: bool) -> bool:
        low = word.lower()
        shortest, longest = (5, 8) if style == "given" else (6, 10)
        if not shortest <= len(low) <= longest or low in BLOCKLIST or not _MARK.search(low):
            return False
        if _TRIPLE.search(low) or any(rude in low for rude in _RUDE):
            return False
        if _DOUBLE_VOWEL.search(low) or self.is_claimed(word):
            return False
        if not prefix_free:
            return True
        if low in self._root_prefixes:
            return False
        return not any(low[:i] in self._roots for i in range(4, len(low) + 1))

    def root(self, style: str = "root", *, claim: bool = True) -> str:
        """Return a new invented word; for place and thing styles, also prefix-free.

        Args:
            style: ``"city"``, ``"country"``, ``"given"``, ``"family"`` or ``"root"``; picks
                the endings, so cities and surnames sound different.
            claim: Also reserve the word itself as a surface form.

        Returns:
            A capitalised invented word of 6 to 10 letters (5 to 8 for given names).

        Raises:
            InputError: If ``style`` is unknown.
        """
        if style not in _ENDINGS:
            raise InputError(f"Unknown name style {style!r}; use one of {', '.join(_STYLES)}.")
        for _ in range(10_000):
            word = self._word(style)
            prefix_free = style not in _PERSONAL
            if self._acceptable(word, style, prefix_free):
                low = word.lower()
                if prefix_free:
                    self._roots.add(low)
                    self._root_prefixes.update(low[:i] for i in range(4, len(low) + 1))
                if claim:
                    self.claim(word)
                return word
        raise InputError("The name space is exhausted; ask for a smaller world size.")

    def person(self) -> tuple[str, str]:
        """Return an unclaimed ``(given, family)`` pair; claim the full name yourself."""
        for _ in range(10_000):
            given = self.root("given", claim=False)
            family = self.root("family", claim=False)
            if not self.is_claimed(f"{given} {family}"):
                return given, family
        raise InputError("The name space is exhausted; ask for a smaller world size.")

    def variant(self, name: str, options: list[str] | tuple[str, ...]) -> str | None:
        """Return the first of ``options`` (in a shuffled order) that is not claimed yet.

        Used for distractors that deliberately share a root with another entity.

        Args:
            name: The name the variant imitates (used only in the error message).
            options: Candidate surface forms.

        Returns:
            The claimed variant, or None when every option is taken.
        """
        if not options:
            raise InputError(f"No variants were offered for {name!r}; pass at least one option.")
        shuffled = list(options)
        self._rng.shuffle(shuffled)
        for option in shuffled:
            if self.claim(option):
                return option
        return None
