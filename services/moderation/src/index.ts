/** The moderation service: level-1 pre-filter, level-3 post-check, live lexicon and human review. */
export { moderationConfigSpec } from './config.js';
export { startModerationService, type ModerationConfig } from './moderation-service.js';
export { TextNormalizer, type NormalizedText } from './engine/text-normalizer.js';
export { LexiconIndex, type LexiconMatch, type LexiconTerm } from './engine/lexicon-index.js';
export { LexiconMatcher } from './engine/lexicon-matcher.js';
export { RulesEngine, DEFAULT_RULES, type RuleFinding, type RulesOptions } from './engine/rules-engine.js';
export { RiskFeaturizer, FEATURE_BUCKETS, MAX_FEATURES } from './risk/features.js';
export { parseTermFile, formatTermFile } from './lexicon/term-file.js';
