import { commonConfig, env } from '@aigc/runtime';

/** Environment of the moderation service. */
export const moderationConfigSpec = {
  ...commonConfig({ grpcPort: 50056, metricsPort: 9466 }),
  modelRepository: env.string('MODEL_REPOSITORY', 'directory holding models/<name>/<version>/model.onnx (default: models/ of the checkout)', ''),
  riskModel: env.string('MODERATION_RISK_MODEL', 'risk classifier in the model repository ("none": post-checks without a model)', 'risk-classifier'),
  lexiconFile: env.string('MODERATION_LEXICON_FILE', 'term file that seeds an empty lexicon store (default: the shipped lexicon/default.tsv)', ''),
  lexiconPollMs: env.int('MODERATION_LEXICON_POLL_MS', 'how often the stored lexicon version is checked, in case a broadcast was missed', 5000, { min: 100 }),
  blockSeverity: env.int('MODERATION_BLOCK_SEVERITY', 'lexicon or rule findings at or above this severity (1-5) block on their own', 4, { min: 1, max: 5 }),
  blockScore: env.number('MODERATION_BLOCK_SCORE', 'combined category score (0-1) at or above which a text is blocked', 0.85, { min: 0, max: 1 }),
  flagScore: env.number('MODERATION_FLAG_SCORE', 'category score (0-1) at or above which a text is flagged', 0.3, { min: 0, max: 1 }),
  reviewDisagreement: env.number('MODERATION_REVIEW_DISAGREEMENT', 'lexicon/model score gap (0-1) at or above which an output goes to human review', 0.4, { min: 0, max: 1 }),
  maxTextBytes: env.int('MODERATION_MAX_TEXT_BYTES', 'largest text a check accepts (INVALID_ARGUMENT above)', 4 * 1024 * 1024, { min: 1024 }),
  maxInputChars: env.int('MODERATION_MAX_INPUT_CHARS', 'longest input before the length rule blocks it', 32_768, { min: 1 }),
  streamWindowChars: env.int('MODERATION_STREAM_WINDOW', 'characters of earlier text re-checked with each streamed chunk', 256, { min: 16, max: 65_536 }),
  presetsFile: env.string('MODERATION_PRESETS_FILE', 'JSON file of generation presets that replace the defaults per category', ''),
};
