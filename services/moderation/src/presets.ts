/**
 * Level 2 of quality control: generation parameter presets per content category, which the
 * orchestrator applies to the text service's sampling before generation. Conservative categories
 * get lower temperature, shorter outputs, stricter post-check modes and a safety instruction.
 */
import { readFileSync } from 'node:fs';
import { GenerationPreset, ModerationMode } from '@aigc/proto';

const ALL_RISK = ['violence', 'sexual', 'hate', 'self_harm', 'illegal', 'fraud', 'profanity'];

/** The presets shipped with the service. */
export const DEFAULT_PRESETS: readonly GenerationPreset[] = [
  preset('general', 0.8, 0.95, 1024, 1.1, ['sexual', 'hate', 'self_harm', 'illegal'], ModerationMode.MODERATION_MODE_BLOCK, 'Answer helpfully. Do not produce sexual, hateful, self-harm or illegal content.'),
  preset('children', 0.5, 0.85, 512, 1.2, ALL_RISK, ModerationMode.MODERATION_MODE_BLOCK, 'The reader is a child. Use simple, kind language; never include violence, sexual content, profanity or anything frightening.'),
  preset('education', 0.4, 0.9, 1536, 1.1, ['sexual', 'hate', 'self_harm', 'illegal', 'fraud'], ModerationMode.MODERATION_MODE_BLOCK, 'Be accurate and neutral; cite facts; do not give instructions for harmful activities.'),
  preset('news', 0.3, 0.9, 1024, 1.15, ['sexual', 'hate', 'fraud', 'profanity'], ModerationMode.MODERATION_MODE_FLAG, 'Report factually and neutrally; violent events may be described, never glorified.'),
  preset('marketing', 0.9, 0.95, 512, 1.2, ['sexual', 'hate', 'fraud', 'profanity', 'illegal'], ModerationMode.MODERATION_MODE_MASK, 'Write persuasive copy without false claims, guarantees of income or offensive language.'),
  preset('fiction', 1.0, 0.97, 2048, 1.05, ['sexual', 'hate', 'self_harm'], ModerationMode.MODERATION_MODE_MASK, 'Creative writing: conflict is allowed; no explicit sexual content, hate or self-harm instructions.'),
  preset('customer_service', 0.3, 0.8, 384, 1.15, ALL_RISK, ModerationMode.MODERATION_MODE_BLOCK, 'Be polite and brief; never insult the customer or discuss unrelated topics.'),
  preset('code', 0.2, 0.95, 2048, 1.0, ['illegal', 'fraud'], ModerationMode.MODERATION_MODE_FLAG, 'Write correct, secure code; do not write malware, credential stealers or exploits.'),
];

function preset(
  category: string,
  temperature: number,
  topP: number,
  maxTokens: number,
  repetitionPenalty: number,
  blockedCategories: string[],
  outputMode: ModerationMode,
  systemPrompt: string,
): GenerationPreset {
  return { category, temperature, topP, maxTokens, repetitionPenalty, blockedCategories, outputMode, systemPrompt };
}

/**
 * The presets in effect: the defaults, each replaced by a preset of the same category from the
 * JSON file `path` (an array of GenerationPreset in proto JSON form) when one is given.
 */
export function loadPresets(path: string): GenerationPreset[] {
  const byCategory = new Map(DEFAULT_PRESETS.map((p) => [p.category, p] as const));
  if (path) {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!Array.isArray(parsed)) throw new Error(`${path}: expected a JSON array of presets`);
    for (const raw of parsed) {
      const p = GenerationPreset.fromJSON(raw);
      if (!/^[a-z][a-z0-9_]{0,31}$/.test(p.category)) throw new Error(`${path}: preset category "${p.category}" is not a valid name`);
      byCategory.set(p.category, p);
    }
  }
  return [...byCategory.values()];
}
