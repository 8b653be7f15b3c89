/**
 * Piper's phoneme -> id mapping: `^ _ p1 _ p2 _ ... pn _ $` (start, pad after every phoneme, end).
 */

/** Ids of one phonemized sentence and the phonemes the voice does not know (skipped, as Piper does). */
export interface PhonemeIds {
  ids: number[];
  /** Phonemes (code points) that carry sound: everything except pads, marks and spaces. */
  spoken: number;
  missing: string[];
}

const SILENT = new Set([' ', ',', '.', '?', '!', ';', ':', '-', "'", '"', 'ˈ', 'ˌ', 'ː']);

/**
 * Maps NFD IPA to ids with Piper's conventions. `spoken` counts mapped code points that are not
 * punctuation, stress or length marks: a sentence with none has nothing to say.
 */
export function phonemeIds(phonemes: string, idMap: ReadonlyMap<string, number[]>): PhonemeIds {
  const pad = idMap.get('_')!;
  const ids: number[] = [...idMap.get('^')!, ...pad];
  const missing = new Set<string>();
  let spoken = 0;
  for (const phoneme of phonemes.normalize('NFD')) {
    const mapped = idMap.get(phoneme);
    if (!mapped) {
      missing.add(phoneme);
      continue;
    }
    ids.push(...mapped, ...pad);
    if (!SILENT.has(phoneme) && !/^\p{N}$/u.test(phoneme)) spoken++;
  }
  ids.push(...idMap.get('$')!);
  return { ids, spoken, missing: [...missing] };
}
