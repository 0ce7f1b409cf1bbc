"""Speech for the robot: numbers, amounts and dates in words; prompts rendered to PBX audio."""

from agi_scripts.speech.dates import date_en, date_zh
from agi_scripts.speech.engines import (
    EspeakEngine,
    HttpTtsEngine,
    SpeechRenderError,
    SpeechSetupError,
    TtsEngine,
)
from agi_scripts.speech.prompts import PromptSource, TtsPromptSource, cache_stem, check_engine
from agi_scripts.speech.words_en import amount_en, int_to_en
from agi_scripts.speech.words_zh import amount_zh, int_to_zh

__all__ = [
    "EspeakEngine",
    "HttpTtsEngine",
    "PromptSource",
    "SpeechRenderError",
    "SpeechSetupError",
    "TtsEngine",
    "TtsPromptSource",
    "amount_en",
    "amount_zh",
    "cache_stem",
    "check_engine",
    "date_en",
    "date_zh",
    "int_to_en",
    "int_to_zh",
]
