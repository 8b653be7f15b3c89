/**
 * The lexicon's file format, used by bulk import, export, the shipped default lexicon and the
 * stored snapshots: UTF-8, one term a line, `term<TAB>category<TAB>severity[<TAB>allow]`.
 * Category and severity may be left out (`general`, 3). Empty lines and `#` comments are skipped.
 * Parsing is all or nothing: the first bad line fails the whole file, naming the line.
 */
import { invalidArgument, type ServiceError } from '@aigc/runtime';
import type { LexiconTerm } from '../engine/lexicon-index.js';
import type { TextNormalizer } from '../engine/text-normalizer.js';

/** Longest term accepted, in code points. */
export const MAX_TERM_CHARS = 64;
/** Most terms in one lexicon. */
export const MAX_TERMS = 1_000_000;
const CATEGORY = /^[a-z][a-z0-9_]{0,31}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Checks one term as an API caller gave it; the error names the problem. */
export function validateTerm(term: LexiconTerm, normalizer: TextNormalizer, where = 'term'): LexiconTerm {
  const text = term.term.trim();
  if (text.length === 0) throw invalidArgument(`${where}: the term is empty`);
  if ([...text].length > MAX_TERM_CHARS) throw invalidArgument(`${where}: the term is longer than ${MAX_TERM_CHARS} characters`);
  if (CONTROL.test(text) || text.includes('\t')) throw invalidArgument(`${where}: the term contains a tab or control character`);
  if (normalizer.normalize(text).length === 0) throw invalidArgument(`${where}: "${text}" has no letters or digits, so it can never match`);
  const category = term.category || 'general';
  if (!CATEGORY.test(category)) throw invalidArgument(`${where}: category "${category}" must match ${CATEGORY.source}`);
  const severity = term.severity || 3;
  if (!Number.isInteger(severity) || severity < 1 || severity > 5) throw invalidArgument(`${where}: severity ${severity} must be 1-5`);
  return { term: text, category, severity, allow: term.allow };
}

/** Decodes bytes as strict UTF-8; INVALID_ARGUMENT naming the byte offset otherwise. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (err) {
    throw invalidArgument(`${what} is not valid UTF-8 (near byte ${firstInvalidUtf8(bytes)})`, err);
  }
}

/** Parses a whole term file; throws INVALID_ARGUMENT naming the first bad line. */
export function parseTermFile(text: string, normalizer: TextNormalizer): LexiconTerm[] {
  const out: LexiconTerm[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) continue;
    const where = `line ${i + 1}`;
    const fields = line.split('\t');
    if (fields.length > 4) throw invalidArgument(`${where}: expected term<TAB>category<TAB>severity[<TAB>allow], got ${fields.length} fields`);
    const [term = '', category = '', severity = '', allow = ''] = fields.map((f) => f.trim());
    if (severity !== '' && !/^[1-5]$/.test(severity)) throw invalidArgument(`${where}: severity "${severity}" must be 1-5`);
    if (allow !== '' && !['allow', 'deny', 'true', 'false', '1', '0'].includes(allow)) {
      throw invalidArgument(`${where}: the fourth field must be "allow" or "deny", got "${allow}"`);
    }
    out.push(validateTerm({ term, category, severity: severity === '' ? 3 : Number(severity), allow: ['allow', 'true', '1'].includes(allow) }, normalizer, where));
    if (out.length > MAX_TERMS) throw invalidArgument(`the file has more than ${MAX_TERMS} terms`);
  }
  return out;
}

/** Writes terms in the file format (sorted, so equal lexicons give equal files). */
export function formatTermFile(terms: Iterable<LexiconTerm>): string {
  const lines = [...terms]
    .sort((a, b) => (a.term < b.term ? -1 : a.term > b.term ? 1 : 0))
    .map((t) => `${t.term}\t${t.category}\t${t.severity}${t.allow ? '\tallow' : ''}`);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return i;
}

/** True for a {@link ServiceError} thrown by this module (for callers that rethrow). */
export type TermFileError = ServiceError;
