"""Synthesizes the teacher corpus and writes data/dataset.pt (ids, durations, log-mels, speakers).

Usage: /usr/bin/python3 tools/train-voice/make_dataset.py   (EN_SENTENCES, ZH_SENTENCES to size it)
"""
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
from dataset import HOP, align, build_id_map, log_mel, to_ids  # noqa: E402
from teacher import Teacher, phonemize  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("VOICE_DATA", HERE / "data"))
EN, ZH = int(os.environ.get("EN_SENTENCES", "1088")), int(os.environ.get("ZH_SENTENCES", "700"))
# speaker id -> eSpeak NG voice variant; language -> eSpeak NG voice (cmn-latn-pinyin: see docs/audio.md)
VARIANTS = ["", "+f3"]
VOICES = {"en": "en-us", "zh": "cmn-latn-pinyin"}


def main() -> None:
    t0 = time.time()
    DATA.mkdir(parents=True, exist_ok=True)
    sentences = [("en", s) for s in corpus.english(EN, 1)] + [("zh", s) for s in corpus.chinese(ZH, 1)]
    with ThreadPoolExecutor(4) as pool:
        ipas = list(pool.map(lambda ls: phonemize(ls[1], VOICES[ls[0]]), sentences))
    id_map = build_id_map(ipas)
    teacher = Teacher()
    items, poor = [], 0
    for (lang, text), ipa in zip(sentences, ipas):
        for spk, variant in enumerate(VARIANTS):
            audio, events = teacher.synthesize(text, VOICES[lang] + variant)
            mel = log_mel(audio)
            char_dur, matched = align(ipa, events, mel.shape[0])
            if matched < 0.85:
                poor += 1
                continue
            ids, durs = to_ids(char_dur, ipa, id_map)
            items.append({"text": text, "lang": lang, "speaker": spk, "ipa": ipa, "ids": torch.tensor(ids),
                          "durations": torch.tensor(durs), "mel": mel.half()})
    frames = sum(int(it["mel"].shape[0]) for it in items)
    torch.save({"items": items, "id_map": id_map, "variants": VARIANTS, "voices": VOICES}, DATA / "dataset.pt")
    stats = {"sentences": len(sentences), "utterances": len(items), "dropped_poor_alignment": poor,
             "audio_seconds": round(frames * HOP / 22050, 1), "symbols": len(id_map),
             "seconds": round(time.time() - t0, 1)}
    (DATA / "dataset.json").write_text(json.dumps(stats, indent=2))
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
