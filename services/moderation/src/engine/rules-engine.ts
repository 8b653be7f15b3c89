/**
 * Rules that need no dictionary: length, runaway repetition, junk (text that is mostly symbols,
 * control characters or replacement characters from broken encodings) and prompt-injection
 * phrasings in English and Chinese. Each finding carries the reason a user would be shown.
 */

/** Which rule fired. */
export type RuleName = 'too_long' | 'repetition' | 'junk' | 'invalid_text' | 'prompt_injection';

/** One rule that fired, with the span of the original text it concerns. */
export interface RuleFinding {
  rule: RuleName;
  category: string;
  /** 1-5, as lexicon severities. */
  severity: number;
  reason: string;
  /** UTF-16 offsets in the checked text. */
  start: number;
  end: number;
}

/** Limits of the {@link RulesEngine}. */
export interface RulesOptions {
  /** Longest input accepted before it is blocked as too long, in UTF-16 units. */
  maxInputChars: number;
  /** A character repeated this many times in a row is runaway repetition. */
  maxCharRun: number;
  /** A short phrase repeated this many times in a row is runaway repetition. */
  maxPhraseRepeats: number;
}

/** Default limits. */
export const DEFAULT_RULES: RulesOptions = { maxInputChars: 32_768, maxCharRun: 40, maxPhraseRepeats: 12 };

/** Only this much of a long text goes through the pattern rules, so the cost of a check stays bounded. */
const ANALYSED_CHARS = 65_536;

const INJECTION: ReadonlyArray<{ pattern: RegExp; reason: string }> = [
  { pattern: /\b(ignore|disregard|forget|override)\b[\s\S]{0,40}?\b(previous|prior|above|earlier|all|your|system)\b[\s\S]{0,20}?\b(instructions?|prompts?|rules|directions|guidelines)\b/i, reason: 'asks to ignore earlier instructions' },
  { pattern: /\b(reveal|show|print|repeat|leak)\b[\s\S]{0,30}?\b(system|hidden|initial|original)\s+(prompt|instructions?|message)\b/i, reason: 'asks for the system prompt' },
  { pattern: /\b(you are now|act as|pretend to be|from now on you are)\b[\s\S]{0,40}?\b(dan|jailbroken|unfiltered|uncensored|without (any )?(restrictions|rules|filters))\b/i, reason: 'asks the model to drop its restrictions' },
  { pattern: /\b(developer|god|jailbreak)\s+mode\b/i, reason: 'asks for a jailbreak mode' },
  { pattern: /<\/?(system|im_start|im_end)>|\[\/?(INST|SYS)\]|<<SYS>>/i, reason: 'contains chat-template control tokens' },
  { pattern: /(忽略|无视|忘记|忘掉)[\s\S]{0,12}?(之前|以上|前面|先前|所有|全部|系统)[\s\S]{0,8}?(指令|指示|提示|规则|设定)/, reason: '要求忽略之前的指令 (asks to ignore earlier instructions)' },
  { pattern: /(输出|显示|告诉我|泄露|重复)[\s\S]{0,10}?(系统提示|系统指令|初始指令|system prompt)/i, reason: '索要系统提示词 (asks for the system prompt)' },
  { pattern: /(开发者模式|越狱模式|没有任何限制|不受任何限制)/, reason: '要求解除限制 (asks the model to drop its restrictions)' },
];

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd\ufffe\uffff]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** See the module comment. Stateless; one instance serves every call. */
export class RulesEngine {
  constructor(readonly options: RulesOptions = DEFAULT_RULES) {}

  /** Rules that fire on `text`; `input` adds the length and prompt-injection rules. */
  check(text: string, stage: 'input' | 'output'): RuleFinding[] {
    const findings: RuleFinding[] = [];
    if (stage === 'input' && text.length > this.options.maxInputChars) {
      findings.push({
        rule: 'too_long',
        category: 'abuse',
        severity: 4,
        reason: `input is ${text.length} characters; the limit is ${this.options.maxInputChars}`,
        start: this.options.maxInputChars,
        end: text.length,
      });
    }
    const head = text.length > ANALYSED_CHARS ? text.slice(0, ANALYSED_CHARS) : text;
    this.invalid(head, findings);
    this.repetition(head, findings);
    this.junk(head, findings);
    if (stage === 'input') {
      for (const { pattern, reason } of INJECTION) {
        const m = pattern.exec(head);
        if (m) findings.push({ rule: 'prompt_injection', category: 'prompt_injection', severity: 4, reason, start: m.index, end: m.index + m[0].length });
      }
    }
    return findings;
  }

  private invalid(text: string, findings: RuleFinding[]): void {
    const bad = (text.match(CONTROL)?.length ?? 0) + (text.match(LONE_SURROGATE)?.length ?? 0);
    if (bad === 0) return;
    const at = text.search(CONTROL) >= 0 ? text.search(CONTROL) : text.search(LONE_SURROGATE);
    findings.push({
      rule: 'invalid_text',
      category: 'junk',
      severity: bad >= 8 ? 3 : 1,
      reason: `${bad} control or replacement character(s), e.g. from invalid UTF-8`,
      start: at,
      end: at + 1,
    });
  }

  private repetition(text: string, findings: RuleFinding[]): void {
    const run = new RegExp(`([\\s\\S])\\1{${this.options.maxCharRun - 1},}`, 'u').exec(text);
    if (run && run[1]!.trim() !== '') {
      findings.push({ rule: 'repetition', category: 'spam', severity: 2, reason: `"${run[1]}" repeated ${run[0].length} times`, start: run.index, end: run.index + run[0].length });
      return;
    }
    const phrase = new RegExp(`([\\s\\S]{2,24}?)\\1{${this.options.maxPhraseRepeats - 1},}`, 'u').exec(text);
    if (phrase && phrase[1]!.trim().length >= 2) {
      const times = Math.round(phrase[0].length / phrase[1]!.length);
      findings.push({ rule: 'repetition', category: 'spam', severity: 2, reason: `a phrase repeated ${times} times in a row`, start: phrase.index, end: phrase.index + phrase[0].length });
    }
  }

  private junk(text: string, findings: RuleFinding[]): void {
    if (text.length < 24) return;
    let meaningful = 0;
    let total = 0;
    for (const ch of text) {
      if (/\s/.test(ch)) continue;
      total++;
      if (/[\p{L}\p{N}]/u.test(ch)) meaningful++;
    }
    if (total >= 24 && meaningful / total < 0.3) {
      findings.push({ rule: 'junk', category: 'spam', severity: 2, reason: `only ${Math.round((100 * meaningful) / total)}% of the text is letters or digits`, start: 0, end: text.length });
    }
  }
}
